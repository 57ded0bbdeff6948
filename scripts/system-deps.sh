#!/usr/bin/env bash
# System packages the project needs, from Debian. Idempotent: installs only what is missing.
#   chromium                     headless browser for end-to-end tests, screenshots, static figure export
#   r-base-core r-cran-survival  R's survival package, the independent reference for the statistics tests
#   r-cran-matchit r-cran-cmprsk r-cran-nlme  R references for matching, competing risks (Gray, Fine-Gray), MMRM (gls)
#   nginx openssl                reverse proxy: the shipped deploy/ configuration is started by the tests (TLS, throw-away cert)
#   fonts-liberation fonts-noto-cjk  metric-compatible Arial/Helvetica and Noto Sans CJK, embedded in exported figures
#   poppler-utils                pdftotext/pdftoppm: export tests read and render the PDFs
#   r-cran-coin                  R coin: exact / permutation log-rank reference for the small-sample tests
set -euo pipefail
PACKAGES=(chromium r-base-core r-cran-survival r-cran-matchit r-cran-cmprsk r-cran-nlme nginx openssl
          fonts-liberation fonts-noto-cjk poppler-utils r-cran-coin)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then exit 0; fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "system-deps: need root to install ${missing[*]} (apt-get)." >&2; exit 1
  fi
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
