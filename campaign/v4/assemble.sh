#!/usr/bin/env bash
# Rebuild the v4 work folder (default runs/v4) from the committed campaign state (campaign/v4).
# Existing newer files in the work folder are kept (cp -n), so this is safe to re-run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${1:-$here/../../runs/v4}"
mkdir -p "$work/labels" "$work/distill"
cp -n "$here"/labels/*.npz "$here/labels/settings.json" "$work/labels/" 2>/dev/null || true
for dir in "$here"/distill "$here"/field/*/; do
  [ -d "$dir" ] || continue
  stage="${dir#"$here"/}"; stage="${stage%/}"
  mkdir -p "$work/$stage" && cp -n "$dir"/*.pt "$work/$stage/" 2>/dev/null || true
done
[ -f "$here/stages.json" ] && cp -n "$here/stages.json" "$work/stages.json" || true
cp -n "$here"/check-*.json "$here"/compare-*.json "$here"/eval-*.json "$here"/teacher-stability-*.json "$work/" 2>/dev/null || true
echo "assembled $work: $(ls "$work/labels" | wc -l) label files, $(ls "$work/distill" | wc -l) distill files"
