#!/usr/bin/env bash
# Rebuild the real-documents corpus (issue 15, section 3) from Debian documentation packages.
#
#   bench/realdocs_corpus.sh [CORPUS_DIR]        # default var/realdocs/corpus; needs root for apt-get
#
# Files are copied (never linked: the index must not change when a package is upgraded underneath it),
# .gz files are decompressed, and each package gets its own folder so doc ids ("pkg/file") stay stable.
# MANIFEST.sha256 (sha256sum format, sorted) and PACKAGES.versions make two runs comparable; neither
# suffix is a format build-index reads, so they never become documents.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CORPUS="${1:-$ROOT/var/realdocs/corpus}"
PACKAGES=(postgresql-doc-15 sqlite3-doc debian-reference-en gnuplot-doc bash-doc r-doc-pdf)

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

# PostgreSQL: the SQL command reference, the client/server applications and the server settings chapter.
# The whole manual (1,169 pages) would be ~4x the chunks for little extra variety.
PG=/usr/share/doc/postgresql-doc-15/html
copy postgresql-doc-15 "$PG"/sql-*.html "$PG"/app-*.html "$PG"/runtime-config*.html

# SQLite: the top-level pages; left out are generated indexes and cross-references (lists of links, no
# prose), the requirements matrix and the C API reference (c3ref/, hundreds of tiny pages).
SQ=/usr/share/doc/sqlite3
mapfile -t sqlite_pages < <(find "$SQ" -maxdepth 1 -name '*.html' -printf '%f\n' | sort \
  | grep -v -E '^(doc_.*crossref|requirements|syntaxdiagrams|capi3ref|keyword_index|doclist|sitemap|chronology|changes|releaselog_.*|toc|docs|index|news|capi3|fullsql|c_interface|copyright-release)\.html$')
copy sqlite3-doc "${sqlite_pages[@]/#/$SQ/}"

copy debian-reference-en /usr/share/debian-reference/debian-reference.en.pdf
copy gnuplot-doc /usr/share/doc/gnuplot/gnuplot.pdf
# Bash: the reference manual as PDF and the man page as HTML, two formats of overlapping text.
copy bash-doc /usr/share/doc/bash/bashref.pdf /usr/share/doc/bash/bash.html
copy r-doc-pdf /usr/share/R/doc/manual/R-FAQ.pdf /usr/share/R/doc/manual/R-admin.pdf

seal_corpus
