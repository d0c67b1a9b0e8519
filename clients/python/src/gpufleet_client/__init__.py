"""Client for a gpufleet gateway: the original GPU service's calls and the async job API.

    from gpufleet_client import Client
    client = Client()                      # GPU_SERVICE_URL, GPUFLEET_API_KEY from the environment
    answer = client.tts("Hello.")          # {"success": True, "audio_path": ..., ...}
"""
from ._client import Client, Event
from ._errors import ApiError, ConnectionFailed, GpufleetError, JobFailed

__all__ = ["Client", "Event", "GpufleetError", "ApiError", "ConnectionFailed", "JobFailed"]
__version__ = "0.1.0"
