"""``deepgisas generate TEMPLATE --n N -o DIR [--workers K] [--shard-size S] [--seed X]
[--scheduler ADDRESS] [--fused]``."""

from __future__ import annotations

import argparse

from deepgisas.cli.options import add_fused, use_fused


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate", help="simulate a training set from a template into HDF5 shards",
        description="Simulate N patterns drawn from TEMPLATE's priors into HDF5 shards in DIR "
                    "(clean float32 intensities, labels, every drawn parameter, detector axes, "
                    "the template, and a manifest). Run the same command again to resume a "
                    "killed run. The data depend only on the template, N, the shard size and "
                    "the seed, never on the number of workers.")
    p.add_argument("template", help="template file (YAML/JSON) or bundled name, e.g. film")
    p.add_argument("--n", type=int, required=True, help="number of patterns")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument("--shard-size", type=int, default=256, help="patterns per shard (256)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--scheduler", help="address of a Dask distributed scheduler, e.g. "
                                       "tcp://host:8786 (the folder must be shared)")
    add_fused(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from deepgisas.api import load_template
    from deepgisas.data.generate import generate
    from deepgisas.errors import UserError

    if args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    template = load_template(args.template)
    if not template.priors:
        raise UserError("the template has no free parameters: nothing to vary", args.template)
    use_fused(args)
    m = generate(template, args.n, args.output, workers=args.workers,
                 shard_size=args.shard_size, seed=args.seed, scheduler=args.scheduler)
    print(f"wrote {m['n']} patterns in {len(m['shards'])} shards to {args.output}")
