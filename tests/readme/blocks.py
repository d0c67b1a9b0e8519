"""Writes the README's command blocks that a newcomer pastes as one runnable script (for tests/readme/run.sh).

Blocks of the sections listed in SECTIONS are taken in order: ```sh blocks become parts of one bash script
(so shell variables carry over, as in a terminal), ```python blocks files the script runs with python3.
The gateway's documented address is replaced by the test's own port, and `gpufleet up` (which runs until
Ctrl-C) by starting it in the background once. Usage: blocks.py README OUT_DIR; prints the script's path.
"""
import re
import sys
from pathlib import Path

# The sections whose blocks must work as pasted. Left out, with why: "Running on GPUs" needs a GPU and a
# CUDA PyTorch; "XTTS-v2" needs a checkpoint (both are run by scripts/gpu-check.sh on GPU hosts).
SECTIONS = ("Quick start (Debian 12)", "The HTTP API", "Talking heads")
# Commands not re-run here: CI runs scripts/test.sh itself, and the quick start's install and build are
# what test.sh did before this test; its last step, `gpufleet demo`, is run by run.sh.
SKIPPED_COMMANDS = ("scripts/quickstart.sh", "scripts/test.sh")


def blocks(readme):
    section = None
    fence = None
    body = []
    start = 0
    for number, line in enumerate(readme.splitlines(), 1):
        heading = re.match(r"^(#{2,3}) (.*)$", line)
        if fence is None and heading:
            if heading.group(1) == "##":
                section = heading.group(2).strip()
            continue
        opening = re.match(r"^```(\w*)\s*$", line)
        if fence is None and opening:
            fence, body, start = opening.group(1), [], number + 1
        elif fence is not None and line.startswith("```"):
            yield section, fence, start, body
            fence = None
        elif fence is not None:
            body.append(line)


def main():
    readme = Path(sys.argv[1]).read_text(encoding="utf-8")
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    script = ["# generated from the README by tests/readme/blocks.py"]
    taken = 0
    for index, (section, language, line, body) in enumerate(blocks(readme)):
        if section not in SECTIONS or language not in ("sh", "python"):
            continue
        taken += 1
        script.append(f'readme_block "{section}" {line}')
        if language == "python":
            path = out / f"block_{index}.py"
            path.write_text("\n".join(body) + "\n", encoding="utf-8")
            script.append(f'python3 "{path}"')
            continue
        for text in body:
            text = text.replace("localhost:8001", 'localhost:"$PORT"')
            command = text.split("#", 1)[0].strip()
            if any(command.startswith(skipped) for skipped in SKIPPED_COMMANDS):
                script.append(f"# skipped: {command}")
                continue
            if re.match(r"^build/bin/gpufleet up\b", command):
                script.append("readme_up")
                continue
            script.append(text)
    if taken == 0:
        sys.exit("blocks.py: no block found in " + ", ".join(SECTIONS))
    path = out / "readme.sh"
    path.write_text("\n".join(script) + "\n", encoding="utf-8")
    print(path)


if __name__ == "__main__":
    main()
