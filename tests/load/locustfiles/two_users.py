"""A user's own locustfile for tests/load/test_load_custom_locustfile.py: one HttpUser and one
FastHttpUser, each asking through self.client as any Locust user would."""

from locust import FastHttpUser, HttpUser, constant, task


class AskingUser(HttpUser):
    wait_time = constant(0.05)

    @task
    def ask(self) -> None:
        self.client.post("/ask", json={"question": "from HttpUser"}, name="http ask")


class FastAskingUser(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def ask(self) -> None:
        with self.client.post("/ask", json={"q": 1}, name="fast ask", catch_response=True) as r:
            if r.status_code == 200 and b"answer" not in (r.content or b""):
                r.failure("no answer")
