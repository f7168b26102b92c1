"""Learning curves: the log reader across resumed segments, smoothing, the table and the plot."""

import pytest

from image_core.training.common import read_log
from image_core.training.curves import main, smoothed


def write_log(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["step,loss,learning_rate,seconds"] + [",".join(map(str, row)) for row in rows]
    (folder / "log.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_read_log_adds_up_resumed_segments(tmp_path):
    # the run stopped at 120 s and resumed: its clock restarted at 0
    run = write_log(
        tmp_path / "editor",
        [(25, 1.0, 1e-4, 60.0), (50, 0.8, 1e-4, 120.0), (75, 0.7, 1e-4, 30.0), (100, 0.6, 1e-4, 90.0)],
    )
    rows = read_log(run)
    assert [row.step for row in rows] == [25, 50, 75, 100]
    assert [row.minutes for row in rows] == pytest.approx([1.0, 2.0, 2.5, 3.5])
    assert (rows[1].loss, rows[1].learning_rate) == (0.8, 1e-4)
    assert read_log(tmp_path / "nothing") == []


def test_smoothed_is_a_trailing_mean_that_starts_at_the_first_value():
    assert smoothed([4.0, 2.0, 6.0, 0.0], 2) == pytest.approx([4.0, 3.0, 4.0, 3.0])
    assert smoothed([4.0, 2.0], 1) == pytest.approx([4.0, 2.0])
    assert smoothed([], 5).shape == (0,)


def test_main_prints_the_table_and_writes_the_plot(tmp_path, capsys):
    falling = write_log(tmp_path / "a" / "editor", [(10 * i, 1.0 / i, 1e-4, 6.0 * i) for i in range(1, 11)])
    flat = write_log(tmp_path / "b" / "editor", [(10 * i, 0.5, 1e-4, 6.0 * i) for i in range(1, 5)])
    plot = tmp_path / "curves.png"
    main([str(falling), str(flat), "-o", str(plot), "--window", "1"])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("| run | steps | minutes | loss at 10% |")
    # 10 rows: 10% is the first row, 50% the fifth, 100% the last
    assert lines[2] == f"| {falling} | 100 | 1.0 | 1.0000 | 0.3333 | 0.2000 | 0.1250 | 0.1000 |"
    assert lines[3] == f"| {flat} | 40 | 0.4 | 0.5000 | 0.5000 | 0.5000 | 0.5000 | 0.5000 |"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {plot}" in out
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a", "b", "curves.png"]  # no partial file left


def test_main_rejects_a_folder_without_a_log(tmp_path, capsys):
    with pytest.raises(SystemExit) as error:
        main([str(tmp_path), "-o", str(tmp_path / "curves.png")])
    assert error.value.code == 2
    assert "has no log.csv with rows" in capsys.readouterr().err
    assert not (tmp_path / "curves.png").exists()
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--window", "0"])
