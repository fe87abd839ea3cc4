"""Engines for the stand-in RPC server (create_engine imports them by path, e.g.
"standin_engine.EchoEngine")."""

from __future__ import annotations

import os
import time


class EchoEngine:
    """Records its constructor arguments; answers calls from them and the environment."""

    def __init__(self, *args, **kwargs):
        self.args = list(args)
        self.kwargs = dict(kwargs)
        self.version = 0
        self.calls = 0

    def init_args(self):
        return {"args": self.args, "kwargs": self.kwargs}

    def echo(self, *args, **kwargs):
        self.calls += 1
        return {"args": list(args), "kwargs": kwargs}

    def typeof(self, value):
        return type(value).__name__

    def pair(self, a, b):
        return (a, b)

    def getenv(self, name):
        return os.environ.get(name)

    def set_version(self, version):
        self.version = version
        return version

    def get_version(self):
        return self.version

    def train_batch(self, batch):
        """A stand-in for a PPO step: the mean of the batch's rewards as the 'loss'."""
        rewards = batch["rewards"]
        return {"loss": sum(rewards) / len(rewards), "n": len(rewards)}

    def compute_logp(self, batch):
        return [-float(len(c)) for c in batch["completions"]]

    def generate(self, prompts):
        return [{"prompt": p, "completion": p[::-1], "reward": float(len(p) % 3)}
                for p in prompts]

    def sleep(self, seconds):
        time.sleep(seconds)
        return seconds

    def fail(self):
        raise RuntimeError("engine failure (stand-in)")

    def destroy(self):
        return None


class BrokenEngine:
    def __init__(self, *args, **kwargs):
        raise ValueError("cannot initialize (stand-in)")
