#!/usr/bin/env bash
# Builds the deployment as `serverless deploy` would, offline and without AWS credentials, and
# lints the CloudFormation template: exits non-zero when any step fails or cfn-lint reports
# an error (its warnings are printed and do not fail).
#   1. npm ci                        the pinned Serverless Framework v3 (package-lock.json)
#   2. scripts/build-lambda.sh       the functions' code package, build/lambda.zip (pip, PyPI)
#   3. serverless package --stage ci .serverless/cloudformation-template-update-stack.json
#   4. cfn-lint                      from .venv (pip install cfn-lint) or the PATH
# Usage: scripts/ci-package.sh [arm64|x86_64]
set -euo pipefail
cd "$(dirname "$0")/.."

# Packaging must not depend on an AWS account: drop any credentials, and make a stray call
# fail at once instead of waiting for an instance metadata service.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
export AWS_EC2_METADATA_DISABLED=true SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off

npm ci --no-audit --no-fund
scripts/build-lambda.sh "${1:-arm64}"
npx --no-install serverless package --stage ci --region us-east-1 --param="architecture=${1:-arm64}"

template=.serverless/cloudformation-template-update-stack.json
if [ -x .venv/bin/cfn-lint ]; then
    lint=.venv/bin/cfn-lint
elif command -v cfn-lint >/dev/null 2>&1; then
    lint=cfn-lint
else
    echo "ci-package: cfn-lint is not installed (pip install cfn-lint)" >&2
    exit 1
fi
status=0
"$lint" "$template" || status=$?
# cfn-lint's exit status is a bit mask: 2 errors, 4 warnings, 8 informational; 1 its own failure.
if (( status & 3 )); then
    echo "ci-package: cfn-lint found errors in $template" >&2
    exit 1
fi
echo "ci-package: $template packaged and linted ($("$lint" --version))"
