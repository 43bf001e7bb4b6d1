"""Write the offline HTML template for `dvc plots show/diff`: vega, vega-lite and vega-embed inline.

DVC's default page loads these three libraries from a CDN, so without network the plots page is
blank. `.dvc/config` points `plots.html_template` at the file this script writes; regenerate it
(e.g. for newer versions) from the npm packages:

    npm pack vega@5 vega-lite@5 vega-embed@6 --pack-destination /tmp/vega   # three .tgz files
    python -m scripts.vendor_vega --packages /tmp/vega
"""

from __future__ import annotations

import argparse
import json
import re
import tarfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
TEMPLATE = REPOSITORY / ".dvc" / "offline_plots.html"
# Load order matters: vega-lite and vega-embed read the globals the ones before them define.
LIBRARIES = (("vega", "build/vega.min.js"), ("vega-lite", "build/vega-lite.min.js"),
             ("vega-embed", "build/vega-embed.min.js"))
PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <!-- Written by scripts/vendor_vega.py: {versions} (BSD-3-Clause), inline so the page works offline. -->
{inline}
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def package_file(archive: Path, member: str) -> tuple[str, str]:
    """(version, text of `member`) from an `npm pack` tarball."""
    with tarfile.open(archive) as tar:
        version = json.load(tar.extractfile("package/package.json"))["version"]  # type: ignore[arg-type]
        return version, tar.extractfile(f"package/{member}").read().decode()  # type: ignore[union-attr]


def template(scripts: list[tuple[str, str, str]]) -> str:
    """The page DVC fills in ({plot_divs}, {refresh_tag}); `scripts` are (name, version, code)."""
    for name, _, code in scripts:
        if re.search(r"</script|\{(plot_divs|scripts|refresh_tag)\}", code):
            raise ValueError(f"{name} contains text that would end the inline script or a DVC placeholder")
    inline = "\n".join(f"    <script>/* {name} {version} */\n{code}\n    </script>" for name, version, code in scripts)
    versions = ", ".join(f"{name} {version}" for name, version, _ in scripts)
    return PAGE.replace("{versions}", versions).replace("{inline}", inline)  # code last: never rescanned


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=Path, required=True, help="folder with the three `npm pack` tarballs")
    parser.add_argument("--out", type=Path, default=TEMPLATE)
    args = parser.parse_args(argv)
    scripts = []
    for name, member in LIBRARIES:
        archives = sorted(args.packages.glob(f"{name}-[0-9]*.tgz"))
        if len(archives) != 1:
            raise SystemExit(f"error: expected one {name}-<version>.tgz in {args.packages}, found {len(archives)}: "
                             f"run `npm pack vega@5 vega-lite@5 vega-embed@6` there")
        scripts.append((name, *package_file(archives[0], member)))
    args.out.write_text(template(scripts))
    print(args.out)


if __name__ == "__main__":
    main()
