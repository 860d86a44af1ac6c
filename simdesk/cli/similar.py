"""``similar``: the photos most like one photo, in the library or not."""

from __future__ import annotations


from simdesk.cli.common import EXIT_OK, json_text, open_library


def cmd_similar(args) -> int:
    from simdesk.core.library import QUERY_EXPANSION

    result = open_library(args).similar_to_many(args.queries, k=args.k,
                                                min_similarity=args.min_similarity, folder=args.folder,
                                                expand=0 if args.no_expand else QUERY_EXPANSION)
    if args.json:
        print(json_text(result.to_json()))
        return EXIT_OK
    where = ("in the library" if result.in_library
             else "not in the library: embedded on the fly" if len(result.queries) <= 1
             else "not all in the library: embedded on the fly")
    query = result.query if len(result.queries) <= 1 else " + ".join(result.queries)
    print(f"Most similar to {query} ({where}; {result.model}, {result.pooling}):")
    for rank, match in enumerate(result.matches, 1):
        print(f"{rank:>4}  {match.similarity:.3f}  {match.path}")
    if not result.matches:
        narrowed = args.min_similarity is not None or args.folder
        print("  (none as similar as asked)" if narrowed else "  (no other photos in the library)")
    return EXIT_OK
