"""``similar``: the photos most like one photo, in the library or not."""

from __future__ import annotations


from simdesk.cli.common import EXIT_OK, json_text, open_library


def cmd_similar(args) -> int:
    result = open_library(args).similar(args.query, k=args.k)
    if args.json:
        print(json_text(result.to_json()))
        return EXIT_OK
    where = "in the library" if result.in_library else "not in the library: embedded on the fly"
    print(f"Most similar to {result.query} ({where}; {result.model}, {result.pooling}):")
    for rank, match in enumerate(result.matches, 1):
        print(f"{rank:>4}  {match.similarity:.3f}  {match.path}")
    if not result.matches:
        print("  (no other photos in the library)")
    return EXIT_OK
