"""The shared inference engine every phase generates through: backends (``engine``), the resumable
batched runner (``runner``), context-window trimming (``window``) and vLLM's GPU split (``parallel``)."""
