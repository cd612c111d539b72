#!/usr/bin/env bash
# Rebuild the unseen real-documents corpus (issue 15, section 3): documentation nobody tuned askdocs on, for a
# question set that is only ever reported (bench/realdocs_unseen_questions.jsonl, `realdocs.py --set unseen`).
#
#   bench/realdocs_unseen_corpus.sh [CORPUS_DIR]   # default var/realdocs-unseen/corpus; needs root for apt-get
#
# As bench/realdocs_corpus.sh: files are copied (never linked), .gz files decompressed, one folder per
# package so doc ids ("pkg/file") stay stable, MANIFEST.sha256 and PACKAGES.versions to compare two runs.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CORPUS="${1:-$ROOT/var/realdocs-unseen/corpus}"
PACKAGES=(git-doc python3.11-doc debian-faq)

# shellcheck source=bench/corpus_common.sh
source "$ROOT/bench/corpus_common.sh"
install_packages
fresh_corpus

# copy PKG SRC...: SRC may be a .gz (stored decompressed, without the suffix) or a symlink (stored as a file).
copy() {
  local pkg="$1"; shift
  mkdir -p "$CORPUS/$pkg"
  local src name
  for src in "$@"; do
    name="$(basename "$src")"
    if [[ "$name" == *.gz ]]; then
      gzip -dc "$src" > "$CORPUS/$pkg/${name%.gz}"
    else
      cp -L --preserve=timestamps "$src" "$CORPUS/$pkg/$name"
    fi
  done
}

# Git: the man pages (git-*.html, and the concept pages gitglossary, gittutorial, gitignore...) and the user
# manual. The .txt files are the AsciiDoc sources of the same pages; howto/ and technical/ are for developers.
GIT=/usr/share/doc/git-doc
copy git-doc "$GIT"/git*.html "$GIT"/user-manual.html

# Python: the tutorial and 40 library modules chosen before any question was written, common tasks a user
# asks about. The whole Sphinx tree (~500 pages, plus generated indexes) would be mostly C API and what's new.
PY=/usr/share/doc/python3.11/html
PY_LIBRARY=(venv argparse json pathlib subprocess logging sqlite3 datetime re functools itertools csv unittest
  os.path shutil collections dataclasses tempfile glob string textwrap random statistics decimal time zipfile
  tarfile gzip hashlib secrets urllib.parse http.server threading concurrent.futures enum contextlib heapq bisect
  timeit configparser)
mkdir -p "$CORPUS/python3.11-doc/tutorial" "$CORPUS/python3.11-doc/library"
for page in "$PY"/tutorial/*.html; do cp -L --preserve=timestamps "$page" "$CORPUS/python3.11-doc/tutorial/"; done
for module in "${PY_LIBRARY[@]}"; do
  cp -L --preserve=timestamps "$PY/library/$module.html" "$CORPUS/python3.11-doc/library/"
done

# Debian FAQ: the PDF rather than the HTML, because the other two packages are HTML only and the PDF adds
# running headers, page numbers and a table of contents (page@1 is measured on it).
copy debian-faq /usr/share/doc/debian/FAQ/debian-faq.en.pdf.gz

seal_corpus
