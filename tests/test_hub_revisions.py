"""`hub:org/name@revision`: a revision (branch, tag or commit) is part of the id, of the weights fingerprint and so of
every cache key. Local folders stand in for the hub's revisions; nothing touches the network."""

from __future__ import annotations

import pytest
from families import make_family_checkpoint
from huggingface_hub.errors import LocalEntryNotFoundError, RevisionNotFoundError

from embedxfer.checkpoints import arch_info, checkpoint_fingerprint
from embedxfer.checkpoints.resolve import resolve_id
from embedxfer.errors import CheckpointError, ConfigError
from embedxfer.experiments import get_preset, list_presets, plan_experiment
from embedxfer.features import feature_key

REPO = "EleutherAI/pythia-tiny"


@pytest.fixture()
def fake_hub(tmp_path_factory, monkeypatch, embedxfer_home):
    """The hub as `snapshot_download` sees it: two revisions of one repository, each a local folder."""
    import shutil
    from fnmatch import fnmatchcase

    import huggingface_hub
    from transformers import AutoModel

    root = tmp_path_factory.mktemp("hub")
    revisions = {
        name: make_family_checkpoint(root / name, "gpt_neox", seed=seed)
        for seed, name in enumerate(("step1000", "step2000"))
    }
    # step0 ships pickle weights only, as Pythia's step branches do
    revisions["step0"] = root / "step0"
    shutil.copytree(revisions["step1000"], revisions["step0"])
    (revisions["step0"] / "model.safetensors").unlink()
    AutoModel.from_pretrained(revisions["step1000"]).save_pretrained(revisions["step0"], safe_serialization=False)
    calls = []

    def snapshot_download(repo_id, *, revision=None, allow_patterns=None, local_files_only=False):
        calls.append((repo_id, revision, local_files_only))
        revision = revision or "step2000"  # the default branch: the last step
        if repo_id != REPO or revision not in revisions:
            raise RevisionNotFoundError(f"no revision {revision}")
        # the files the patterns ask for, as a snapshot holds them
        chosen = root / "snapshots" / f"{revision}-{'-'.join(sorted(allow_patterns or ['all']))}".replace("*", "x")
        if not chosen.exists():
            chosen.mkdir(parents=True)
            for file in revisions[revision].iterdir():
                if allow_patterns is None or any(fnmatchcase(file.name, p) for p in allow_patterns):
                    shutil.copy(file, chosen / file.name)
        return str(chosen)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def test_a_revision_is_part_of_the_id_the_source_and_the_fingerprint(fake_hub):
    early, late = f"hub:{REPO}@step1000", f"hub:{REPO}@step2000"
    assert resolve_id(early).key == early and "at revision step1000" in resolve_id(early).source
    assert arch_info(early).family == "gpt_neox" and arch_info(early).source.endswith("at revision step1000")
    assert ("EleutherAI/pythia-tiny", "step1000", True) in fake_hub  # conftest sets HF_HUB_OFFLINE: cache only
    fingerprints = {checkpoint_fingerprint(c) for c in (early, late, f"hub:{REPO}")}
    assert len(fingerprints) == 3  # the default branch holds step2000's files, yet its id is another one


def test_feature_cache_keys_differ_per_revision(fake_hub):
    from embedxfer.tasks import load_task

    task = load_task("tweets-binary")
    keys = {feature_key(f"hub:{REPO}@{rev}", task, "train", "mean", 16) for rev in ("step1000", "step2000")}
    assert len(keys) == 2


def test_a_missing_revision_and_a_malformed_id_are_one_sentence(fake_hub):
    with pytest.raises(CheckpointError, match=r"Hub model EleutherAI/pythia-tiny has no revision 'step3'; give a"):
        arch_info(f"hub:{REPO}@step3")
    with pytest.raises(CheckpointError, match=r"write it as hub:org/name or hub:org/name@revision"):
        resolve_id("hub:org/name@")


def test_offline_without_the_revision_cached_names_the_hub(monkeypatch, embedxfer_home):
    import huggingface_hub

    def offline(repo_id, **_):
        raise LocalEntryNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(CheckpointError, match=r"Cannot reach the Hugging Face Hub to get org/model at revision v2"):
        arch_info("hub:org/model@v2")


def test_the_pythia_presets_need_the_hub_and_say_so_offline(monkeypatch, embedxfer_home):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: (_ for _ in ()).throw(OSError("down")))
    online = [p for p in list_presets() if p.online]
    assert {p.name for p in online} == {"pythia-over-training", "pythia-over-training-tokens"}
    for preset in online:
        assert all("@step" in c for c in preset.config["checkpoints"])
        with pytest.raises((CheckpointError, ConfigError), match="Cannot reach the Hugging Face Hub"):
            plan_experiment(get_preset(f"preset:{preset.name}").config)


def test_revisions_are_compared_in_one_run(fake_hub):
    plan = plan_experiment({"kind": "probing", "checkpoints": [f"hub:{REPO}@step1000", f"hub:{REPO}@step2000"]})
    assert {spec.condition for spec in plan.trials} == {f"hub:{REPO}@step1000", f"hub:{REPO}@step2000"}


def test_pickle_only_revisions_load_when_the_user_trusts_their_source(fake_hub, monkeypatch):
    from embedxfer.checkpoints import load_checkpoint

    with pytest.raises(CheckpointError, match=r"at revision step0 has no safetensors weights.*EMBEDXFER_ALLOW_PICKLE="):
        arch_info(f"hub:{REPO}@step0")
    monkeypatch.setenv("EMBEDXFER_ALLOW_PICKLE", "hub:EleutherAI/*")
    assert arch_info(f"hub:{REPO}@step0").family == "gpt_neox"
    loaded = load_checkpoint(f"hub:{REPO}@step0")
    reference = load_checkpoint(f"hub:{REPO}@step1000")  # the same weights, saved as safetensors
    expected = dict(reference.model.named_parameters())
    for name, param in loaded.model.named_parameters():
        assert param.equal(expected[name]), name


def test_a_local_pickle_folder_needs_the_same_permission(fake_hub, tmp_path, monkeypatch):
    import shutil

    import huggingface_hub

    from embedxfer.checkpoints import load_checkpoint
    from embedxfer.checkpoints.loading import clear_loaded

    folder = tmp_path / "old"
    shutil.copytree(huggingface_hub.snapshot_download(REPO, revision="step0"), folder)  # every file of step0
    with pytest.raises(CheckpointError, match=rf"set EMBEDXFER_ALLOW_PICKLE={folder} \(patterns such as"):
        load_checkpoint(str(folder))
    monkeypatch.setenv("EMBEDXFER_ALLOW_PICKLE", f"{tmp_path}/*")
    clear_loaded()
    assert load_checkpoint(str(folder)).info.family == "gpt_neox"
