"""``map``: the cluster map (similar photos together) drawn into a PNG."""

from __future__ import annotations

import time

from simdesk.cli.common import EXIT_OK, CliError, open_library, print_err
from simdesk.cli.render import ProgressRenderer, cancel_on_interrupt
from simdesk.core.progress import Cancelled
from simdesk.core.units import format_duration


def cmd_map(args) -> int:
    from simdesk.core.map.cache import MapScope

    library = open_library(args)
    start = time.monotonic()
    scope = MapScope.folder(args.folder) if args.folder else MapScope.all()
    try:
        with cancel_on_interrupt() as cancel, ProgressRenderer() as progress:
            layout = library.map_layout(scope, recompute=args.recompute, progress=progress,
                                        cancel=cancel)
            if len(layout) == 0:
                raise CliError(f"no indexed photos in {scope.describe()} (model "
                               f"{library.model_name}, {library.pooling}): run `simdesk index`")
            how = {"cache": "cached layout", "computed": "laid out",
                   "updated": f"cached layout, {layout.added} placed, {layout.removed} dropped"}
            laid = f"{len(layout)} photos ({how[layout.source]}, {format_duration(time.monotonic() - start)})"
            result = library.export_map(
                args.out, layout, mode="grid" if args.grid else "tsne", size=args.size,
                colour_by=args.colour_by, style=args.style, tile=args.tile,
                title=args.title, progress=progress, cancel=cancel)
    except Cancelled:
        raise Cancelled("Stopped; nothing was written.") from None
    shown = f"{result.drawn} drawn" if result.drawn < result.total else "all drawn"
    print_err(f"Map of {laid}: {result.path} ({result.width}x{result.height} px, {result.mode}, "
              f"{result.style} of {result.tile} px, {shown}).")
    return EXIT_OK
