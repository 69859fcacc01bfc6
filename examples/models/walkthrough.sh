#!/usr/bin/env bash
# Publish a model file to devreg, deploy it, and download it as a device does.
# Needs a running devreg ($DEVREG, default http://localhost:8080) and the org's secret
# key in $SECRET; curl, python3 and sha256sum.
set -euo pipefail
DEVREG=${DEVREG:-http://localhost:8080}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# A model file to publish (use your own .onnx instead).
head -c 3000000 /dev/urandom > model.onnx
DIGEST=$(sha256sum model.onnx | cut -d' ' -f1)

# 1. An upload URL; the model is made if the org has none of that id or name.
TICKET=$(curl -sf -X POST "$DEVREG/api/v1/models/kbd-next-word/versions/upload-url" \
  -H "Authorization: Bearer $SECRET" -d filename=model.onnx)
UPLOAD_URL=$(echo "$TICKET" | json '["upload_url"]')
KEY=$(echo "$TICKET" | json '["storage_key"]')

# 2. The bytes, to the signed URL (no key); a dropped upload resumes with &offset=N.
curl -sf -X PUT --data-binary @model.onnx "$UPLOAD_URL" > /dev/null

# 3. Publish: the version is visible only once its size and digest match.
curl -sf -X POST "$DEVREG/api/v1/models/kbd-next-word/versions/confirm-upload" \
  -H "Authorization: Bearer $SECRET" -d version=1.0.0 -d storage_key="$KEY" \
  -d file_size="$(stat -c %s model.onnx)" -d sha256="$DIGEST" > /dev/null

# 4. Deploy it to every device of the org.
curl -sf -X POST "$DEVREG/api/v1/deployments" -H "Authorization: Bearer $SECRET" \
  -H 'Content-Type: application/json' \
  -d '{"model_id": "kbd-next-word", "version": "1.0.0"}' > /dev/null

# 5. A device registers, and its desired state names the version with devreg's signed URL.
DEVICE=$(curl -sf -X POST "$DEVREG/api/v1/devices/register" \
  -H "Authorization: Bearer $SECRET" -H 'Content-Type: application/json' \
  -d '{"device_id": "phone-001", "platform": "ios"}')
DEVICE_ID=$(echo "$DEVICE" | json '["id"]')
DEVICE_KEY=$(echo "$DEVICE" | json '["api_key"]')
DESIRED=$(curl -sf "$DEVREG/api/v1/devices/$DEVICE_ID/desired-state" \
  -H "Authorization: Bearer $DEVICE_KEY")
URL=$(echo "$DESIRED" | json '["models"][0]["artifactManifest"]["downloadUrl"]')
WANT=$(echo "$DESIRED" | json '["models"][0]["artifactManifest"]["sha256"]')

# 6. The device downloads the file with no Authorization header (the URL is signed for an
#    hour), resuming a partial download with Range, and checks its SHA-256.
curl -sf -r 0-999999 -o downloaded.onnx "$URL"
curl -sf -C - -o downloaded.onnx "$URL"
echo "$WANT  downloaded.onnx" | sha256sum -c -
