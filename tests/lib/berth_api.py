"""The control API of a running `berth run`, for the shell tests' inline
Python (tests/cli, tests/slurm): the address and token from the run
directory, and the check that a communication group's members were told
what the API says.

    sys.path.insert(0, ROOT + "/tests/lib"); import berth_api
"""
import json
import urllib.request


class RunApi:
    def __init__(self, run_dir, timeout=30):
        with open(run_dir + "/control.json") as f:
            self.port = json.load(f)["port"]
        with open(run_dir + "/control.token") as f:
            self.token = f.read().strip()
        self.timeout = timeout

    def get(self, path):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                     headers={"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req, timeout=self.timeout) as r:
            return json.load(r)

    def workers(self):
        """GET /v1/status's workers by id."""
        return {w["id"]: w for w in self.get("/v1/status")["workers"]}


def worker_env(worker):
    """The demo worker's own environment (its GET /env on its http port;
    every node of the tests listens on 127.0.0.1)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{worker['ports']['http']}/env",
                                timeout=10) as r:
        return json.load(r)


def check_group_env(api, name, version):
    """GET /v1/groups/NAME must be at VERSION; each member started at that
    version must have been given its rank, the world size and the
    rendezvous in BERTH_GROUP_<NAME>_* (members started earlier keep what
    they were told, and learn the new membership from the API). Returns the
    group and how many members were checked."""
    g = api.get("/v1/groups/" + name)
    assert g["version"] == version, g
    workers = api.workers()
    prefix = "BERTH_GROUP_" + name.upper() + "_"
    checked = 0
    for rank, id in enumerate(g["members"]):
        e = worker_env(workers[id])
        if e[prefix + "VERSION"] != str(version):
            continue
        checked += 1
        assert e[prefix + "RANK"] == str(rank), (id, e)
        assert e[prefix + "WORLD_SIZE"] == str(g["world_size"]), (id, e)
        assert e[prefix + "MASTER_ADDR"] == g["master_addr"], (id, e)
        assert e[prefix + "MASTER_PORT"] == str(g["master_port"]), (id, e)
    return g, checked
