""".github/workflows/addon.yml: Home Assistant's builder actions build the add-on's image from
exist-bridge/Dockerfile with the repository root as the context, for the architectures and
under the image name config.yaml gives; every pull request builds without pushing, a tag
publishes both architectures and the manifest; the add-on linter runs on the add-on. (The
workflow's syntax and security are checked in .ci/run: check-jsonschema and zizmor.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "addon.yml"
BUILDER = "home-assistant/builder/actions/"


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job["steps"] if s.get("uses", "").startswith(action + "@")]


def test_it_runs_on_pull_requests_and_release_tags():
    on = workflow()[True]  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in on
    assert on["push"] == {"tags": ["v*.*.*"]}


def test_every_action_is_pinned_by_commit_with_its_version():
    text = WORKFLOW.read_text(encoding="utf-8")
    uses = re.findall(r"uses: (\S+)@(\S+)(.*)", text)
    assert uses
    for action, ref, comment in uses:
        assert re.fullmatch(r"[0-9a-f]{40}", ref), action
        assert re.fullmatch(r" # v?\d+(\.\d+)+", comment), (action, comment)


def test_the_image_is_built_from_the_addon_dockerfile_with_the_repository_as_context():
    jobs = workflow()["jobs"]
    for name in ("build", "publish"):
        (build,) = steps_using(jobs[name], BUILDER + "build-image")
        assert build["with"]["context"] == "."
        assert build["with"]["file"] == "exist-bridge/Dockerfile"
        assert (ROOT / build["with"]["file"]).is_file()
        assert build["with"]["arch"] == "${{ matrix.arch }}"
    assert steps_using(jobs["build"], BUILDER + "build-image")[0]["with"]["push"] == "false"
    assert steps_using(jobs["publish"], BUILDER + "build-image")[0]["with"]["push"] == "true"
    assert jobs["build"]["if"] == "github.event_name == 'pull_request'"
    assert jobs["publish"]["if"] == jobs["manifest"]["if"] == "github.event_name == 'push'"
    assert jobs["manifest"]["needs"] == ["prepare", "publish"]


def test_names_versions_and_architectures_come_from_config_yaml():
    jobs = workflow()["jobs"]
    run = jobs["prepare"]["steps"][1]["run"]
    for key in (".image", ".version", ".arch"):
        assert f"'{key}' exist-bridge/config.yaml" in run
    assert 'python3 dists/release.py verify "${TAG}"' in run  # a tag agrees with VERSION
    (matrix,) = steps_using(jobs["prepare"], BUILDER + "prepare-multi-arch-matrix")
    assert matrix["with"]["architectures"] == "${{ steps.info.outputs.architectures }}"
    (manifest,) = steps_using(jobs["manifest"], BUILDER + "publish-multi-arch-manifest")
    assert manifest["with"]["image-name"] == "${{ needs.prepare.outputs.image-name }}"
    assert manifest["with"]["registry-prefix"] == "${{ needs.prepare.outputs.registry-prefix }}"


def test_only_the_publishing_jobs_may_write_packages():
    jobs = workflow()["jobs"]
    assert workflow()["permissions"] == {"contents": "read"}
    writers = {n for n, j in jobs.items() if j.get("permissions", {}).get("packages") == "write"}
    assert writers == {"publish", "manifest"}


def test_the_addon_linter_runs_on_the_addon():
    (lint,) = steps_using(workflow()["jobs"]["lint"], "frenck/action-addon-linter")
    assert lint["with"]["path"] == "./exist-bridge"
    assert (ROOT / lint["with"]["path"] / "config.yaml").is_file()
