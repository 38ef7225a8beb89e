"""End to end: train -> artifact -> prediction over real HTTP."""

import requests

from tests.servers import Server


def test_real_server_predicts(server: Server) -> None:
    response = requests.post(server.url, json={"features": [0.0] * 30}, timeout=30)
    assert response.status_code == 200
    assert set(response.json()) == {"prediction", "model_version"}
