python3 -m venv .venv
. .venv/bin/activate
pip install openapi-python-client
devreg openapi > openapi.json
openapi-python-client generate --path openapi.json
pip install ./devreg-devices-api-client
