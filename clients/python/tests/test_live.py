#!/usr/bin/env python3
"""Guards the Python client against a real fleet (gpufleet up: Redis, broker, an espeak+noop worker, the
gateway), started here on free ports: the original calls' shapes, the job API, the streams, uploads and
downloads, errors as exceptions with the gateway's codes, and retries that honour Retry-After without ever
making a second job.

Usage: test_live.py BIN_DIR   (CTest passes build/bin; the client is imported from the interpreter's path)
"""
import hashlib
import os
import secrets
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import gpufleet_client
from gpufleet_client import ApiError, Client, JobFailed

BIN = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else "build/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def key(name: str, rate: str = "") -> tuple:
    token = "gf_" + secrets.token_hex(32)
    return token, f"{name} {hashlib.sha256(token.encode()).hexdigest()} {rate}".strip()


def wav_bytes(seconds: float = 1.0, rate: int = 16000) -> bytes:
    samples = b"".join(struct.pack("<h", (i * 97) % 2000 - 1000) for i in range(int(seconds * rate)))
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", len(samples))
    return header + samples


class LiveFleet:
    def __init__(self) -> None:
        self.alice, alice_line = key("alice")
        self.bob, bob_line = key("bob")
        self.slow, slow_line = key("slow", "1 1")  # one request a second
        self.state = tempfile.mkdtemp(prefix="gpufleet-pyclient-")
        self.port = free_port()
        env = dict(os.environ, HOST="127.0.0.1", PORT=str(self.port), REDIS_PORT=str(free_port()),
                   BROKER_PORT=str(free_port()), BROKER_METRICS_PORT="0",
                   STORAGE_ROOT=os.path.join(self.state, "storage"), STATE_DIR=os.path.join(self.state, "s"),
                   WORKER_MODELS="espeak,noop", WORKER_SLOTS="2", LOG_LEVEL="warn",
                   API_KEYS=";".join([alice_line, bob_line, slow_line]))
        env.pop("NOOP_DRILLS", None)
        self.log = open(os.path.join(self.state, "up.log"), "w")
        self.process = subprocess.Popen([os.path.join(BIN, "gpufleet"), "up"], env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        probe = Client(self.url, api_key=self.alice, retries=0, timeout=2)
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if probe.health().get("status") == "healthy":
                    return
            except gpufleet_client.GpufleetError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("the fleet did not become healthy: " + open(os.path.join(self.state, "up.log")).read())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


FLEET = None


def setUpModule() -> None:
    global FLEET
    FLEET = LiveFleet()


def tearDownModule() -> None:
    if FLEET is not None:
        FLEET.stop()


class OriginalCalls(unittest.TestCase):
    def setUp(self) -> None:
        self.client = Client(FLEET.url, api_key=FLEET.alice)

    def test_health_has_the_original_shape(self) -> None:
        health = self.client.health()
        self.assertEqual(health["status"], "healthy")
        self.assertTrue(health["models"]["tts"])
        self.assertIn("cuda", health["capabilities"])

    def test_tts_answers_with_the_audio_path_of_a_wav(self) -> None:
        answer = self.client.tts("Hello from the Python client.", language="en")
        self.assertTrue(answer["success"])
        self.assertEqual(answer["model"], "espeak")
        self.assertGreater(answer["duration_s"], 0.5)
        with open(answer["audio_path"], "rb") as wav:
            self.assertEqual(wav.read(4), b"RIFF")

    def test_a_refused_request_raises_with_the_gateways_code(self) -> None:
        with self.assertRaises(ApiError) as refused:
            self.client.tts("   ")
        self.assertEqual(refused.exception.status, 400)
        self.assertEqual(refused.exception.code, "missing_field")
        with self.assertRaises(ApiError) as unknown:
            self.client.tts("Hi", language="xx-nope")
        self.assertEqual(unknown.exception.code, "unsupported_language")

    def test_a_video_uploads_by_its_container_and_lipsync_names_the_missing_model(self) -> None:
        # This fleet serves no video model: the upload is checked and stored, the lip sync refused with 404.
        video = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "fuzz", "corpus",
                             "video_probe", "tiny.mp4")
        uploaded = self.client.upload(video)
        self.assertEqual(uploaded["content_type"], "video/mp4")
        self.assertTrue(uploaded["video"].endswith(".mp4"))
        with self.assertRaises(ApiError) as refused:
            self.client.lipsync(uploaded["video"], text="Hello")
        self.assertEqual(refused.exception.status, 404)
        self.assertEqual(refused.exception.code, "unknown_model")
        with self.assertRaises(ApiError) as garbage:
            self.client.upload(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 8, content_type="video/mp4")
        self.assertEqual(garbage.exception.code, "unreadable_media")


class JobApi(unittest.TestCase):
    def setUp(self) -> None:
        self.client = Client(FLEET.url, api_key=FLEET.alice)

    def test_submit_wait_result_and_download(self) -> None:
        job = self.client.submit({"text": "A job by the client."})
        self.assertEqual(job["state"], "queued")
        done = self.client.wait(job["id"], timeout=30, raise_on_failure=True)
        self.assertEqual(done["state"], "succeeded")
        self.assertEqual(self.client.get(job["id"])["state"], "succeeded")
        data = self.client.result(job["id"])
        self.assertEqual(data[:4], b"RIFF")
        target = os.path.join(FLEET.state, "downloaded.wav")
        self.assertEqual(self.client.download(job["id"], target), target)
        with open(target, "rb") as file:
            self.assertEqual(file.read(), data)
        self.assertIn(job["id"], [entry["id"] for entry in self.client.jobs(limit=50)])

    def test_a_failed_job_raises_job_failed_on_request(self) -> None:
        job = self.client.submit({"text": "x", "sleep_ms": 10, "fail": True}, model="noop")
        with self.assertRaises(JobFailed) as failed:
            self.client.wait(job["id"], timeout=30, raise_on_failure=True)
        self.assertEqual(failed.exception.state, "failed")
        self.assertEqual(self.client.wait(job["id"], timeout=5)["state"], "failed")

    def test_wait_returns_the_job_as_it_is_when_the_timeout_passes(self) -> None:
        job = self.client.submit({"text": "slow", "sleep_ms": 3000}, model="noop")
        started = time.monotonic()
        self.assertIn(self.client.wait(job["id"], timeout=0.5)["state"], ("queued", "running"))
        self.assertLess(time.monotonic() - started, 2.5)
        self.assertEqual(self.client.cancel(job["id"])["id"], job["id"])
        self.assertEqual(self.client.wait(job["id"], timeout=30)["state"], "cancelled")

    def test_events_iterate_from_snapshot_to_the_final_state(self) -> None:
        job = self.client.submit({"text": "events", "sleep_ms": 500}, model="noop")
        events = list(self.client.events(job["id"]))
        self.assertEqual(events[0].event, "snapshot")
        self.assertEqual(events[-1].data["state"], "succeeded")
        self.assertTrue(all(event.data.get("id") == job["id"] for event in events))

    def test_stream_audio_yields_the_wav_as_it_is_made(self) -> None:
        job = self.client.submit({"text": "Streaming speech, chunk by chunk, from the fleet."})
        chunks = list(self.client.stream_audio(job["id"]))
        audio = b"".join(chunks)
        self.assertEqual(audio[:4], b"RIFF")
        self.assertGreater(len(audio), 44 + 16000)
        self.assertEqual(self.client.wait(job["id"], timeout=30)["state"], "succeeded")

    def test_uploads_are_stored_once_and_are_the_keys_own(self) -> None:
        reference = wav_bytes()
        first = self.client.upload(reference)
        self.assertEqual(first["content_type"], "audio/wav")
        self.assertEqual(self.client.upload(reference)["id"], first["id"])
        path = os.path.join(FLEET.state, "reference.wav")
        with open(path, "wb") as file:
            file.write(reference)
        self.assertEqual(self.client.upload(path)["speaker_wav"], first["speaker_wav"])
        with self.assertRaises(ApiError) as bad:
            self.client.upload(b"not a wav or an image")
        self.assertEqual(bad.exception.status, 415)

    def test_another_keys_job_is_not_found(self) -> None:
        job = self.client.submit({"text": "Alice's."})
        with self.assertRaises(ApiError) as hidden:
            Client(FLEET.url, api_key=FLEET.bob).get(job["id"])
        self.assertEqual(hidden.exception.status, 404)
        self.assertEqual(hidden.exception.code, "not_found")

    def test_the_same_idempotency_key_returns_the_same_job(self) -> None:
        first = self.client.submit({"text": "once"}, idempotency_key="py-client-test-once")
        again = self.client.submit({"text": "once"}, idempotency_key="py-client-test-once")
        self.assertEqual(first["id"], again["id"])


class Retries(unittest.TestCase):
    def test_rate_limited_calls_are_retried_after_retry_after_and_make_one_job_each(self) -> None:
        client = Client(FLEET.url, api_key=FLEET.slow, retries=5)
        started = time.monotonic()
        ids = [client.submit({"text": f"retried {n}"}, model="noop")["id"] for n in range(3)]
        self.assertGreaterEqual(time.monotonic() - started, 1.5)  # the bucket holds one request a second
        self.assertEqual(len(set(ids)), 3)
        time.sleep(1.1)
        listed = [job["id"] for job in client.jobs(limit=50)]
        self.assertEqual(sorted(listed), sorted(ids))  # no retry made a job of its own

    def test_without_retries_a_429_is_raised_with_its_retry_after(self) -> None:
        client = Client(FLEET.url, api_key=FLEET.slow, retries=0)
        time.sleep(1.1)
        client.health()  # /health is open: it does not take from the bucket
        with self.assertRaises(ApiError) as limited:
            for _ in range(3):
                client.jobs()
        self.assertEqual(limited.exception.status, 429)
        self.assertEqual(limited.exception.code, "rate_limited")
        self.assertIsNotNone(limited.exception.retry_after)

    def test_an_unreachable_gateway_raises_connection_failed(self) -> None:
        client = Client(f"http://127.0.0.1:{free_port()}", retries=1, timeout=1)
        with self.assertRaises(gpufleet_client.ConnectionFailed):
            client.get("0" * 32)

    def test_the_url_comes_from_gpu_service_url(self) -> None:
        os.environ["GPU_SERVICE_URL"] = FLEET.url
        try:
            self.assertEqual(Client().url, FLEET.url)
        finally:
            del os.environ["GPU_SERVICE_URL"]
        with self.assertRaises(ValueError):
            Client("ftp://example.com")


if __name__ == "__main__":
    unittest.main(verbosity=2)
