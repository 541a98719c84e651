"""``sit sft``, ``sit dpo`` and ``sit export`` (``sit compare-stages`` is the evaluation phase's).

``sit sft`` / ``sit dpo`` also run unchanged under ``accelerate launch`` (data parallel): the
trainer picks the processes up from the launcher's environment.
"""

from __future__ import annotations


def register(subparsers) -> None:
    from ..cli import add_session_args
    from ..workspace import TRAINING_STAGES

    for stage, helptext in (("sft", "QLoRA SFT of a target model on the filtered conversations"),
                            ("dpo", "DPO of a target model from its SFT adapter on the preference pairs")):
        parser = subparsers.add_parser(stage, help=helptext, description=f"{helptext}. Resumes from the last "
                                       "checkpoint; a finished stage is not trained again. Settings: the profile's "
                                       f"`training` and `training.{stage}` sections (--set training.{stage}.epochs=1).")
        add_session_args(parser)
        parser.add_argument("--model", required=True, help="target model: registry slug or hub id")
        parser.add_argument("--quiet", action="store_true", help="no progress output")
        parser.set_defaults(func=_train, stage=stage)

    parser = subparsers.add_parser("export", help="merge a stage's adapter into an fp16 copy of its base model")
    add_session_args(parser)
    parser.add_argument("--model", required=True)
    parser.add_argument("--stage", choices=TRAINING_STAGES, default="dpo")
    parser.add_argument("--out", default=None, help="output folder (default: models/<slug>/<stage>-merged-fp16)")
    parser.add_argument("--quiet", action="store_true")
    parser.set_defaults(func=_export)


def _train(args) -> int:
    from ..cli import session_from_args
    from .dpo import train_dpo
    from .sft import train_sft

    session = session_from_args(args)
    train = train_sft if args.stage == "sft" else train_dpo
    result = train(session, args.model, progress=not args.quiet)
    if not args.quiet:
        summary = result.summary
        print(f"{args.stage.upper()} {result.model}: {summary.get('global_steps')} steps, final loss "
              f"{summary.get('final_loss')} -> {result.path}")
    return 0


def _export(args) -> int:
    from ..cli import session_from_args
    from .merge import export_merged

    out = export_merged(session_from_args(args), args.model, args.stage, args.out)
    if not args.quiet:
        print(f"merged fp16 model -> {out}")
    return 0
