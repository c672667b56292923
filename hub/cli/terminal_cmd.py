"""``hub terminal``: the village terminal service on the village PC (store and forward).

    hub terminal --hub-url https://hub.example:8443 --token-file /etc/hub-terminal/token.json \
                 [--listen 127.0.0.1:8088] [--data-dir /var/lib/hub-terminal]

Serves the clerk's workbench at ``--listen``; keeps cases and scans under ``--data-dir`` until
the hub confirmed them. Scan settings: ``--scan-dpi``, ``--scan-quality``, ``--scan-grey``,
``--no-scan-downscale``; ``--scanner DEVICE`` (SANE) enables 扫描 per material.
Stops cleanly on SIGINT/SIGTERM; a kill -9 loses nothing either.
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import Any

from hub.cli.serve import parse_listen


def register(sub: Any) -> None:
    p = sub.add_parser("terminal", help="run the village terminal (local workbench, store and "
                                        "forward to the hub)")
    p.add_argument("--hub-url", required=True, help="the hub's address, e.g. https://hub:8443")
    p.add_argument("--token-file", required=True, type=Path,
                   help="the JSON printed by `hub terminals add --json`")
    p.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 8088),
                   help="HOST:PORT of the local workbench (default 127.0.0.1:8088)")
    p.add_argument("--data-dir", type=Path, default=Path(".hub-terminal"),
                   help="where cases and scans wait (default ./.hub-terminal)")
    p.add_argument("--backoff-cap", type=float, default=30.0,
                   help="longest wait between tries while the hub is unreachable (s)")
    p.add_argument("--offline-after", type=float, default=20.0,
                   help="seconds without word from the hub before the pages say the link is "
                        "down (default 20)")
    p.add_argument("--scanner", default=None,
                   help="SANE device of the room's scanner (see `scanimage -L`); enables 扫描")
    p.add_argument("--sane-config-dir", type=Path, default=None,
                   help="SANE_CONFIG_DIR for the scanner (default: SANE's own)")
    p.add_argument("--scan-dpi", type=int, default=150)
    p.add_argument("--scan-quality", type=int, default=70)
    p.add_argument("--scan-grey", action="store_true")
    p.add_argument("--no-scan-downscale", action="store_true")
    p.set_defaults(func=run_terminal)


def run_terminal(args: argparse.Namespace) -> int:
    from hub.config.loading import load_config
    from hub.config.settings import get_settings
    from hub.terminal.scanner import Scanner
    from hub.terminal.scans import ScanSettings
    from hub.terminal.service import TerminalOptions, TerminalService, read_credential

    config = load_config(get_settings(fresh=True).config_dir)
    host, port = args.listen
    options = TerminalOptions(
        hub_url=args.hub_url, data_dir=args.data_dir, credential=read_credential(args.token_file),
        host=host, port=port, backoff_cap_s=args.backoff_cap,
        stale_s=args.offline_after, stream_s=max(1.0, args.offline_after / 2),
        http_timeout_s=min(15.0, max(3.0, args.offline_after)),
        scans=ScanSettings(enabled=not args.no_scan_downscale, max_dpi=args.scan_dpi,
                           jpeg_quality=args.scan_quality, grey=args.scan_grey),
        scanner=Scanner(args.scanner, args.sane_config_dir) if args.scanner else None)
    service = TerminalService(options, config)

    def _stop(signum: int, frame: object) -> None:
        service.server.should_exit = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"village terminal: workbench at http://{host}:{port}/ , forwarding to {args.hub_url}",
          flush=True)
    try:
        service.run()
    finally:
        service.stop()
    return 0
