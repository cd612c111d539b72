#!/usr/bin/env bash
# Rebuild the manuals corpus: Unix manual pages (troff man(7)) and GNU Info manuals exactly as Debian ships them,
# for a question set that is only ever reported (bench/realdocs_manuals_questions.jsonl, `realdocs.py --set manuals`).
#
#   bench/realdocs_manuals_corpus.sh [CORPUS_DIR]   # default var/realdocs-manuals/corpus; needs root for apt-get
#
# Unlike the other corpus scripts, .gz files are copied as they are, NOT decompressed: a user points askdocs at
# /usr/share/man or /usr/share/info as they are, and the readers have to cope with that. Folders follow
# /usr/share/man's sections (man1, man5, man8) and one "info" folder, so doc ids ("man1/ls.1.gz",
# "info/find.info-1.gz") stay stable and a `.so man1/bash.1` link names a file that is in the corpus.
# Symlinked pages are stored as the file they point to (cp -L). MANIFEST.sha256 and PACKAGES.versions to compare
# two runs.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CORPUS="${1:-$ROOT/var/realdocs-manuals/corpus}"
# Small packages only: the man pages of everyday tools. bash-doc brings bash.info; man-db and groff-base are what
# `man -l` needs to read the pages the way the questions were written from.
PACKAGES=(coreutils tar gzip grep sed findutils diffutils less procps openssh-client openssh-server cron rsync curl
  wget git-man dpkg apt systemd mount sudo bash bash-doc iproute2 iputils-ping man-db groff-base)

# shellcheck source=bench/corpus_common.sh
source "$ROOT/bench/corpus_common.sh"
install_packages
fresh_corpus

# copy FOLDER SRC...: byte for byte (still gzip-compressed); a symlink is stored as the file it points to.
copy() {
  local folder="$1"; shift
  mkdir -p "$CORPUS/$folder"
  local src
  for src in "$@"; do
    cp -L --preserve=timestamps "$src" "$CORPUS/$folder/$(basename "$src")"
  done
}

MAN=/usr/share/man
# Section 1, user commands: coreutils, the archive and search tools, ssh, cron, rsync, curl, wget, a few git
# pages, dpkg, systemd's two everyday commands, procps, bash. rbash.1.gz is only `.so man1/bash.1`: it is here
# to see a man page that is a link to another one handled.
MAN1=(ls cp mv rm du df sort uniq cut head tail date chmod chown ln mkdir touch stat tee tr wc split sha256sum env
  timeout tar gzip grep sed find xargs diff less ssh scp ssh-keygen crontab rsync curl wget git git-commit git-log
  git-rebase git-stash dpkg systemctl journalctl ps kill top free watch bash rbash)
# Section 5, file formats; section 8, administration commands.
MAN5=(ssh_config sshd_config crontab fstab sudoers)
MAN8=(apt-get mount sudo sshd cron ip ping)
for page in "${MAN1[@]}"; do copy man1 "$MAN/man1/$page.1.gz"; done
for page in "${MAN5[@]}"; do copy man5 "$MAN/man5/$page.5.gz"; done
for page in "${MAN8[@]}"; do copy man8 "$MAN/man8/$page.8.gz"; done

# GNU Info manuals. find's is split the way makeinfo splits a long manual: find.info holds only the tag table
# and find.info-1 / find.info-2 the nodes. tar's Info manual is not in Debian main (tar-doc is non-free).
INFO=/usr/share/info
copy info "$INFO"/grep.info.gz "$INFO"/sed.info.gz "$INFO"/find.info.gz "$INFO"/find.info-1.gz \
  "$INFO"/find.info-2.gz "$INFO"/gzip.info.gz "$INFO"/coreutils.info.gz "$INFO"/wget.info.gz "$INFO"/bash.info.gz

seal_corpus
