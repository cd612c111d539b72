# Shared by the real-documents corpus scripts (realdocs_corpus.sh, realdocs_unseen_corpus.sh,
# realdocs_manuals_corpus.sh): sourced after each sets CORPUS and PACKAGES. Each script keeps its own copy()
# (the main and unseen sets decompress .gz files, the manuals set keeps them as Debian ships them).

# apt-get install the set's packages, unless SKIP_APT=1 (the packages are already there).
install_packages() {
  if [ "${SKIP_APT:-0}" != 1 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  fi
}

# An empty corpus folder.
fresh_corpus() {
  rm -rf "$CORPUS"
  mkdir -p "$CORPUS"
}

# MANIFEST.sha256 (sha256sum format, sorted) and PACKAGES.versions make two runs comparable; neither suffix is a
# format build-index reads, so they never become documents. Then a count per folder.
seal_corpus() {
  (cd "$CORPUS" && find . -type f ! -name MANIFEST.sha256 ! -name PACKAGES.versions -printf '%P\n' | LC_ALL=C sort \
    | xargs -d '\n' sha256sum > MANIFEST.sha256)
  dpkg-query -W -f='${Package} ${Version}\n' "${PACKAGES[@]}" > "$CORPUS/PACKAGES.versions"
  echo "corpus: $CORPUS"
  awk '{split($2, p, "/"); n[p[1]]++} END {for (k in n) printf "  %-22s %4d files\n", k, n[k]}' "$CORPUS/MANIFEST.sha256" | sort
  echo "  total $(wc -l < "$CORPUS/MANIFEST.sha256") files, $(du -sh --exclude=MANIFEST.sha256 "$CORPUS" | cut -f1)"
}
