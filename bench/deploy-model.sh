# Sourced by bench/workload.sh and bench/compare.sh: deploys one model version to every
# device of the org whose secret key is $SECRET, on the server at $URL, so a sync answers
# with a desired state (examples/fleetload.rs names this model in its reports).
deploy_bench_model() {
    api() { curl -sf -X POST -H "Authorization: Bearer $SECRET" -H 'Content-Type: application/json' \
        "$URL$1" -d "$2" >/dev/null; }
    api /api/v1/models '{"model_id":"bench-model"}'
    api /api/v1/models/bench-model/versions '{"version":"1.0.0","format":"onnx","total_bytes":4096,
        "sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "download_url":"https://cdn.example.com/bench-model/1.0.0/model.onnx"}'
    api /api/v1/deployments '{"model_id":"bench-model","version":"1.0.0","target":{}}'
}
