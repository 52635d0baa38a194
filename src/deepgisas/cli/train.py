"""``deepgisas train TEMPLATE -o MODEL_DIR [--arch NAME] [--minutes M] [--data DIR] ...``."""

from __future__ import annotations

import argparse
import shlex
import sys

from deepgisas.cli.options import add_fused, use_fused


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a network on simulations drawn from a template's priors",
        description="Train a network on simulations made on the fly from TEMPLATE (or read "
                    "from shards with --data) for M minutes of wall time. MODEL_DIR then holds "
                    "model.safetensors, card.json, learning_curve.csv/.png and a checkpoint "
                    "that --resume continues from.")
    p.add_argument("template", help="template file (YAML/JSON) or bundled name")
    p.add_argument("-o", "--output", required=True, help="model directory to write")
    p.add_argument("--arch", default="compact",
                   help="architecture: compact (default), rodnet (compact, q_y-aware head), "
                        "rodprofile (rodnet + full q_y profile; grows from a rodnet), "
                        "logq (the rods on a log q_y axis), "
                        "resnet18, densenet121, densenet169 (the talk's)")
    p.add_argument("--minutes", type=float, default=10.0, help="wall-time budget (10)")
    p.add_argument("--data", help="a folder made by `deepgisas generate` for TEMPLATE")
    p.add_argument("--resume", action="store_true", help="continue from MODEL_DIR's checkpoint")
    p.add_argument("--max-steps", type=int, help="stop after this many steps")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--loss", choices=("kl", "emd"), default="kl",
                   help="loss of a distribution head")
    p.add_argument("--head", choices=("auto", "gaussian", "flow"), default="auto",
                   help="parameter labels: independent Gaussians (auto) or a normalising flow "
                        "over all labels jointly (correlated and two-valued answers)")
    p.add_argument("--targets", choices=("labels", "posterior"), default="labels",
                   help="orientation labels: learn the true xi distributions (labels) or their "
                        "exact posteriors given each image's counts (posterior: same optimum, "
                        "less noise; needs --bin-counts)")
    p.add_argument("--augment", choices=("talk", "detector"), default="talk")
    p.add_argument("--intensity-scale", type=float, nargs=2, metavar=("LO", "HI"),
                   default=(-2.0, 2.0),
                   help="log10 range of the per-image intensity scale (the talk's -2 2)")
    p.add_argument("--init-from", metavar="MODEL",
                   help="start from this model's weights (same architecture and input): its "
                        "backbone, and its head too with --init-head (a curriculum stage)")
    p.add_argument("--init-head", action="store_true",
                   help="with --init-from: keep its head as well (same outputs)")
    p.add_argument("--crop-jitter", type=int, metavar="PX",
                   help="keep the training crop within PX pixels of the centre (default: "
                        "anywhere, as in the talk; networks that read q_y positions need it)")
    p.add_argument("--bin-counts", action="store_true",
                   help="crop and bin counts over the downsample blocks before the noise "
                        "(exact Poisson statistics of bigger pixels; talk augmentation only)")
    p.add_argument("--crop", type=int, nargs=2, metavar=("ROWS", "COLS"))
    p.add_argument("--downsample", type=int, nargs=2, metavar=("ROWS", "COLS"),
                   help="block averaging after the crop (default: to the architecture's "
                        "input size)")
    p.add_argument("--no-mask-channel", action="store_true")
    p.add_argument("--workers", type=int, default=1, help="data worker processes (1)")
    p.add_argument("--precision", choices=("float32", "float64"), default="float32",
                   help="of the on-the-fly simulation (float32, 2x faster; both match "
                        "BornAgain to 1e-3)")
    p.add_argument("--repeats", type=int, default=4,
                   help="augmented views of each simulation in a batch (4)")
    p.add_argument("--buffer", type=int, metavar="N",
                   help="on-the-fly data from a replay buffer of N simulations per data "
                        "worker, refilled with spare CPU, each draw augmented afresh: the "
                        "loop never waits for the simulator, the card reports how often a "
                        "simulation was reused; replaces --repeats, and --resume is not bit "
                        "for bit (memory: N x rows x cols x 4 bytes per worker)")
    p.add_argument("--steps-per-epoch", type=int, default=25)
    p.add_argument("--val-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int,
                   help="torch threads of the training process (default: torch's choice; with "
                        "data workers on a small CPU, 1 avoids threads spinning on busy cores)")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0,
                   help="write a checkpoint at most this often (5; 0 = every epoch)")
    add_fused(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from pathlib import Path

    from deepgisas.api import load_template
    from deepgisas.data.preprocess import default_input
    from deepgisas.errors import UserError
    from deepgisas.training.config import TrainConfig
    from deepgisas.training.loop import train

    out = Path(args.output)
    if not out.parent.is_dir():
        raise UserError("the parent folder does not exist", str(out))
    if not args.resume and out.exists() and any(out.iterdir()):
        raise UserError("exists and is not empty (use --resume, or another folder)", str(out))
    if args.threads is not None:
        if args.threads < 1:
            raise UserError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    if args.init_head and not args.init_from:
        raise UserError("--init-head needs --init-from")
    template = load_template(args.template)
    if not template.priors:
        raise UserError("the template has no free parameters to learn", args.template)
    use_fused(args)
    spec = default_input(template.base.detector.shape, args.arch, args.crop, args.downsample,
                         args.augment, not args.no_mask_channel, args.bin_counts,
                         args.intensity_scale, args.crop_jitter)
    cfg = TrainConfig(arch=args.arch, minutes=args.minutes, max_steps=args.max_steps,
                      batch_size=args.batch_size, lr=args.lr, loss=args.loss, seed=args.seed,
                      workers=args.workers, steps_per_epoch=args.steps_per_epoch,
                      val_size=args.val_size, data=args.data, input=spec,
                      checkpoint_minutes=args.checkpoint_minutes, repeats=args.repeats,
                      buffer=args.buffer,
                      precision=args.precision, init_from=args.init_from,
                      init_head=args.init_head, head=args.head, targets=args.targets)
    command = "deepgisas " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    card = train(template, out, cfg, resume=args.resume, command=command)
    figs = ", ".join(f"{k} {v:.4g}" for k, v in card.validation.items()
                     if isinstance(v, float) and k not in ("seconds", "lr"))
    reuse = card.training.get("reuse")
    seen = "" if reuse is None else f"; each simulation seen {reuse:.3g} times on average"
    print(f"wrote {out}: {card.training['steps']} steps, validation {figs}{seen}")
