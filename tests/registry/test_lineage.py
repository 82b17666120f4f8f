import subprocess

from lcml.registry.lineage import git_state, package_versions


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_git_state_dirty_ignores_data_dvc(tmp_path):
    assert git_state(tmp_path) == ("unknown", False)
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "t@example.org")
    git(tmp_path, "config", "user.name", "t")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "data.dvc").write_text("outs: []\n")
    (tmp_path / "README.md").write_text("# x\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("a\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "c")
    commit, dirty = git_state(tmp_path)
    assert len(commit) == 40 and not dirty
    (tmp_path / "data.dvc").write_text("outs: [{md5: abc}]\n")
    assert git_state(tmp_path)[1] is False  # a new release is not a code change
    (tmp_path / "README.md").write_text("# y\n")
    (tmp_path / "docs" / "notes.md").write_text("b\n")
    assert git_state(tmp_path)[1] is False  # nor is documentation
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_state(tmp_path)[1] is True


def test_package_versions_lists_the_stack():
    versions = package_versions()
    assert versions["torch"].startswith("2.14.1") and versions["mlflow"] == "3.17.2"
