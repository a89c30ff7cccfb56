#!/usr/bin/env bash
# Usage plugin benchmark: recording cost per record, memory with 100,000 and
# 1,000,000 details, GET /usage time at both sizes, store open time.
# Runs in-process against the plugin library (release build, temp folder).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p cliproxy-plugin-usage --bench usage
