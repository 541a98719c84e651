"""Publishing to the Hugging Face Hub: two datasets (SFT data, preference pairs) and the adapters, with cards.

    result = publish(session)                     # dry run without a token or in the toy world
    result = publish(session, dry_run=False)      # create_repo + upload_folder, private by default

The dry run writes exactly the folders a push uploads, under ``<workspace>/publish/``.
"""

from .pipeline import PublishResult, publish, publish_settings

__all__ = ["PublishResult", "publish", "publish_settings"]
