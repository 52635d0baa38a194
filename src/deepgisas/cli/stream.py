"""``deepgisas stream MODEL (DIR | --tiled URI) [--instrument FILE] [--fit TEMPLATE] -o
results.csv``."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from deepgisas.cli.options import (
    add_engine,
    add_fused,
    add_instrument,
    add_strict,
    alpha_i,
    use_fused,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stream", help="predict each detector frame as it arrives in a folder or a Tiled node "
                       "(in situ)",
        description="Watch DIR (by polling; works on network filesystems) for detector frames "
                    "(.tif, .cbf, .edf, .h5/.nxs, .npy, each optionally .gz), or follow the "
                    "Tiled node URI (--tiled: a container of 2-D arrays, or a 3-D array that "
                    "grows along axis 0), predict each "
                    "new complete frame with MODEL, batching frames that pile up, and append "
                    "one line per frame to the CSV (atomically; a restart resumes it). Frames "
                    "that stay unreadable are logged to RESULTS.errors.csv and skipped. A PNG "
                    "of the parameters against frame number is kept up to date beside the CSV. "
                    "Stops on Ctrl-C (the CSV stays complete), with --once when the folder is "
                    "done, or after --idle-exit seconds without a new frame. Frames of the "
                    "wrong shape before any good frame (no or the wrong --instrument) stop it "
                    "at once, and a run that predicts no frame exits with status 2. The "
                    "'flags' column marks values beyond or at a prior's bound and network-fit "
                    "disagreements.")
    p.add_argument("model", metavar="MODEL", help="bundled model name or model directory")
    p.add_argument("folder", metavar="DIR", nargs="?",
                   help="the folder the detector writes frames into (or give --tiled)")
    p.add_argument("--tiled", metavar="URI",
                   help="follow this Tiled node instead of a folder "
                        "(http://HOST:PORT/api/v1/metadata/PATH; needs the beamline extra)")
    p.add_argument("--tiled-api-key", metavar="KEY",
                   help="the Tiled server's API key (or give it in URI as ?api_key=KEY)")
    p.add_argument("-o", "--output", required=True, metavar="RESULTS.csv",
                   help="results CSV (RESULTS.png and RESULTS.errors.csv go beside it)")
    add_instrument(p, "description file (or pyFAI .poni file, with --alpha-i) giving the "
                   "beam and detector; each frame is resampled from it onto the model's "
                   "detector grid")
    add_strict(p)
    p.add_argument("--fit", metavar="TEMPLATE", help="refine every k-th frame by a physics fit "
                   "of TEMPLATE's free parameters, starting from the network (columns fit:NAME)")
    p.add_argument("--fit-every", type=int, default=10, metavar="K",
                   help="fit every K-th frame (default 10)")
    add_fused(p, "several minutes per template (the fits' batch shapes) at the first frames "
              "fitted")
    p.add_argument("--once", action="store_true",
                   help="process the frames in the folder, then stop")
    p.add_argument("--idle-exit", type=float, metavar="SECONDS",
                   help="stop after SECONDS without a new frame")
    p.add_argument("--plot-every", type=float, default=5.0, metavar="SECONDS",
                   help="redraw the PNG every SECONDS (default 5) and at the end")
    p.add_argument("--plot-x", choices=("index", "time"), default="index",
                   help="the plot's x axis: frame index or file time (default index)")
    p.add_argument("--poll", type=float, default=1.0, metavar="SECONDS",
                   help="seconds between looks at the folder (default 1)")
    p.add_argument("--settle", type=float, default=2.0, metavar="SECONDS",
                   help="a file must stay unchanged this long before it is read (default 2)")
    p.add_argument("--retries", type=int, default=3,
                   help="failed reads of an unchanged file before it is declared corrupt "
                        "(default 3)")
    p.add_argument("--batch", type=int, default=64, help="frames per network call (default 64)")
    p.add_argument("--workers", type=int, default=2, help="reader threads (default 2)")
    p.add_argument("--threads", type=int, default=1,
                   help="threads of the network itself (default 1: reading already runs in "
                        "parallel with it)")
    add_engine(p, "the network's engine, as for predict (default auto)")
    p.add_argument("--bins", action="store_true",
                   help="orientation models: also write the 120 probabilities")
    p.add_argument("--serve", metavar="[HOST:]PORT",
                   help="serve a live dashboard of the run on PORT (HOST 127.0.0.1 unless "
                        "given; 0: any free port) and print its address; it ends with the run")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow --serve on an address other people can reach (needs a token)")
    p.add_argument("--token", help="the token a remote browser must give (default with "
                                   "--allow-remote: a random one, printed in the address)")
    p.add_argument("--nexus", metavar="OUT.nxs",
                   help="also write the rows to a NeXus HDF5 file, appended per batch")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from deepgisas.errors import UserError
    from deepgisas.stream import StreamConfig, plot_path, run_stream

    if (args.folder is None) == (args.tiled is None):
        raise UserError("give either DIR or --tiled URI, not both" if args.folder else
                        "give DIR (a folder) or --tiled URI (a Tiled node)")
    if args.tiled_api_key is not None and args.tiled is None:
        raise UserError("--tiled-api-key needs --tiled")
    if args.nexus is not None and not Path(args.nexus).parent.is_dir():
        raise UserError("the folder does not exist", str(Path(args.nexus).parent))

    use_fused(args)
    config = StreamConfig(poll_s=args.poll, settle_s=args.settle, retries=args.retries,
                          batch=args.batch, workers=args.workers, plot_every_s=args.plot_every,
                          once=args.once, idle_exit_s=args.idle_exit, bins=args.bins,
                          fit_every=args.fit_every, x=args.plot_x,
                          network_threads=args.threads, engine=args.engine)
    source: Any = args.folder
    if args.tiled is not None:
        from deepgisas.live.tiled import TiledSource

        source = TiledSource(args.tiled, args.tiled_api_key, retries=args.retries,
                             settle=args.settle)
    listeners: list[Any] = []
    if args.serve is not None:
        from deepgisas.live import Dashboard, parse_address

        host, port = parse_address(args.serve)
        dashboard = Dashboard(host, port, args.token, args.allow_remote, x=args.plot_x)
        print(f"live dashboard: {dashboard.start()}", flush=True)
        listeners.append(dashboard)
    if args.nexus is not None:
        from deepgisas.stream.nexus import NexusWriter

        listeners.append(NexusWriter(args.nexus, args.instrument))
    stop = threading.Event()

    def interrupted(signum: int, frame: Any) -> None:
        stop.set()  # finish the current batch; a second Ctrl-C interrupts at once
        signal.signal(signal.SIGINT, signal.default_int_handler)

    main_thread = threading.current_thread() is threading.main_thread()
    old = ({s: signal.signal(s, interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
           if main_thread else {})  # installed last: nothing between here and `try` raises
    try:
        summary = run_stream(args.model, source, args.output, args.instrument, args.fit,
                             config, stop, alpha_i_deg=alpha_i(args),
                             orientation=args.orientation, keep_negative=args.keep_negative,
                             strict=args.strict, listeners=listeners)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for listener in listeners:
            listener.stop()
    out = Path(args.output)
    print(f"wrote {out} and {plot_path(out)}: {summary.frames} frames "
          f"({summary.rate:.1f} frames/s), {summary.errors} unreadable")
