import os

from devreg_devices_api_client import AuthenticatedClient
from devreg_devices_api_client.api.devices import register_device
from devreg_devices_api_client.models import RegisterRequest

base_url = os.environ.get("DEVREG_URL", "http://127.0.0.1:8080")
publishable_key = os.environ["DEVREG_PUBLISHABLE_KEY"]  # oct_pub_live_…

app = AuthenticatedClient(base_url=base_url, token=publishable_key)
device = register_device.sync(
    client=app, body=RegisterRequest(device_identifier="client-001", platform="android")
)
print(device.id, device.api_key)
