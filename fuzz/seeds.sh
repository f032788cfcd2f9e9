#!/usr/bin/env bash
# Re-mints the key-dependent seeds with the fuzz-only key: valid download paths (corpus/token),
# their decoded `header \0 payload` (corpus/signed_claims) and the key's JWKS (corpus/jwks).
# The tokens live 100 years, so the committed seeds keep verifying; run this only to change them.
set -euo pipefail
cd "$(dirname "$0")"

dl_token() { cargo run --quiet --locked --manifest-path ../Cargo.toml -p shared --bin dl-token -- "$@"; }
mint() {
  dl_token mint --key fuzz-only-signing-key.pem --issuer https://app.fuzz.example \
    --audience download --ttl 3155760000 --format path "$@"
}
b64url_decode() {
  local s
  s=$(printf %s "$1" | tr '_-' '/+')
  while (( ${#s} % 4 )); do s+='='; done
  printf %s "$s" | base64 -d
}

mkdir -p corpus/token corpus/signed_claims corpus/jwks
mint --obj users/42/report.pdf | tr -d '\n' > corpus/token/plain
mint --obj users/42/9f1c/archive.tar.gz --name 'Übersicht €.tar.gz' | tr -d '\n' > corpus/token/named
mint --obj a --sub '' | tr -d '\n' > corpus/token/short-obj

for seed in plain named short-obj; do
  token=$(cut -d/ -f3 < "corpus/token/$seed")
  # The bare token under /d/ (no cosmetic name) is a path too.
  printf '/d/%s' "$token" > "corpus/token/$seed-bare"
  IFS=. read -r header payload _ <<< "$token"
  { b64url_decode "$header"; printf '\0'; b64url_decode "$payload"; } > "corpus/signed_claims/$seed"
  # Without a NUL the input is the payload alone, under the contract header.
  b64url_decode "$payload" > "corpus/signed_claims/$seed-payload"
done

dl_token jwks --key fuzz-only-signing-key.pem --out corpus/jwks/fuzz-key.json

# What verify.rs once accepted: a JSON-array header or claims set, and "crit": null.
kid=$(sed -n 's/.*"kid": *"\([^"]*\)".*/\1/p' corpus/jwks/fuzz-key.json)
claims=$(cat corpus/signed_claims/plain-payload)
printf '["EdDSA","dl+jwt","%s"]\0%s' "$kid" "$claims" > corpus/signed_claims/array-header
printf '{"alg":"EdDSA","typ":"dl+jwt","kid":"%s","crit":null}\0%s' "$kid" "$claims" \
  > corpus/signed_claims/null-crit
printf '["%s","download","cli","%s",1700000000,4800000000,null,"a/b",null]' \
  https://app.fuzz.example 00000000-0000-4000-8000-000000000000 > corpus/signed_claims/array-claims
