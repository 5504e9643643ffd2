import httpx


def test_health_ok_with_request_id(server):
    response = httpx.get(server.url + "/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert len(response.headers["x-amzn-requestid"]) == 36


def test_unknown_path_is_404_with_request_id(server):
    response = httpx.get(server.url + "/nope")
    assert response.status_code == 404
    assert response.headers["x-amzn-requestid"]


def test_unsigned_post_is_400_missing_authentication_token(server):
    response = httpx.post(server.url + "/", content=b"{}",
                          headers={"X-Amz-Target": "TrentService.ListKeys",
                                   "Content-Type": "application/x-amz-json-1.1"})
    assert response.status_code == 400
    assert response.json() == {"__type": "MissingAuthenticationTokenException",
                               "message": "Missing Authentication Token"}
