"""``deepgisas live-bluesky MODEL --proxy HOST:PORT [--publish HOST:PORT]``: a worker that
predicts the images of the Bluesky runs a 0MQ proxy forwards, out of the RunEngine's
process (:class:`deepgisas.live.bluesky.BlueskyCallback`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from deepgisas.cli.options import add_engine, add_instrument, add_strict, alpha_i
from deepgisas.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "live-bluesky", help="predict the images of Bluesky runs from a 0MQ proxy (a worker)",
        description="Subscribe to the documents a 0MQ proxy (bluesky-0MQ-proxy) forwards from "
                    "a RunEngine, predict every 2-D image of every event with MODEL, and "
                    "publish the results as a Bluesky run of their own (start with "
                    "source_uid, model and card; one event per image with the numbers of "
                    "'deepgisas stream''s CSV and source_seq_num; stop) to the proxy's input "
                    "with --publish, else print one line per image. The RunEngine never waits "
                    "for it. A frame that cannot be read is a warning and is skipped. Runs "
                    "until Ctrl-C.")
    p.add_argument("model", metavar="MODEL", help="bundled model name or model directory")
    p.add_argument("--proxy", required=True, metavar="HOST:PORT",
                   help="the proxy's output address, where the RunEngine's documents come out "
                        "(bluesky-0MQ-proxy IN OUT: OUT)")
    p.add_argument("--publish", metavar="HOST:PORT",
                   help="publish the result runs to this proxy input (bluesky-0MQ-proxy "
                        "IN OUT: IN)")
    p.add_argument("--field", metavar="NAME",
                   help="the event field holding the images (default: the one 2-D field "
                        "of each stream)")
    p.add_argument("--prefix", default="",
                   help="only documents published with this prefix (default: all)")
    p.add_argument("--publish-prefix", default="deepgisas", metavar="PREFIX",
                   help="the prefix of the published results (default deepgisas)")
    add_instrument(p, "description file (or pyFAI .poni file, with --alpha-i) giving the beam "
                      "and detector; each image is resampled from it onto the model's "
                      "detector grid")
    add_strict(p)
    add_engine(p, "the network's engine, as for predict (default auto)")
    p.set_defaults(func=run)


def address(text: str, flag: str) -> str:
    """``HOST:PORT`` (or ``tcp://HOST:PORT``; ``PORT`` alone: this machine) as a 0MQ
    address, checked as ``--serve``'s are."""
    from deepgisas.live.server import parse_address

    host, port = parse_address(text.removeprefix("tcp://"), flag)
    if port == 0 or any(c in host for c in "/ "):
        raise UserError(f"expected HOST:PORT, not {text!r}", flag)
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def prefix(text: str, flag: str) -> bytes:
    if " " in text:
        raise UserError(f"a prefix has no spaces: {text!r}", flag)
    return text.encode()


class Printer:
    """Without ``--publish``: one line per result event on stdout."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.run = ""

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self.run = str(doc["source_uid"])[:8]
        elif name == "descriptor":
            self.names = [k for k in doc["data_keys"] if doc["data_keys"][k]["dtype"] ==
                          "number" and not k.startswith("std:")]
        elif name == "event":
            data = doc["data"]
            numbers = " ".join(f"{k}={data[k]:.4g}" for k in self.names)
            flags = f" [{data['flags']}]" if data.get("flags") else ""
            print(f"run {self.run} event {data['source_seq_num']}: {numbers}{flags}",
                  flush=True)


def run(args: argparse.Namespace) -> None:
    from bluesky.callbacks.zmq import Publisher, RemoteDispatcher

    from deepgisas.live.bluesky import BlueskyCallback

    source = address(args.proxy, "--proxy")
    target = None if args.publish is None else address(args.publish, "--publish")
    source_prefix = prefix(args.prefix, "--prefix")
    target_prefix = prefix(args.publish_prefix, "--publish-prefix")
    publisher = Publisher(target, prefix=target_prefix) if target is not None else None
    callback = BlueskyCallback(args.model, args.field, args.instrument,
                               emit=publisher if publisher is not None else Printer(),
                               keep_negative=args.keep_negative, alpha_i_deg=alpha_i(args),
                               orientation=args.orientation, engine=args.engine,
                               strict=args.strict)
    loop = asyncio.new_event_loop()
    failed: list[Exception] = []

    def guarded(name: str, doc: dict[str, Any]) -> None:
        if failed:  # documents already queued when the worker failed
            return
        try:
            callback(name, doc)
        except Exception as exc:  # noqa: BLE001  (stops the worker, reported below)
            failed.append(exc)
            for task in asyncio.all_tasks(loop):  # the dispatcher's poll: start() returns
                task.cancel()

    dispatcher = RemoteDispatcher(source, prefix=source_prefix, loop=loop)
    dispatcher.subscribe(guarded)
    ready = (f"deepgisas live-bluesky: {callback.predictor.name} on the runs from {source}"
             + (f", results to {target}" if target else "") + " (Ctrl-C stops)")
    loop.call_soon(lambda: print(ready, flush=True))  # once subscribed (start() subscribes)
    try:
        dispatcher.start()
    except asyncio.CancelledError:
        if not failed:
            raise
    finally:
        if publisher is not None:
            publisher.close()
    if failed:
        raise failed[0]
    sys.stdout.flush()
