"""The explorer's JSON API through FastAPI's test client: answers match the Python API, refusals name the
field, the scenario it writes is what `ketasim trial` runs, trial jobs report progress and cancel."""

from __future__ import annotations

import time
import tomllib

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

import ketasim as ks
from ketasim.serve import Limits, create_app, is_loopback
from ketasim.trials.scenario import parse_scenario

SMALL = Limits(trial_patients=60, trial_days=7, trial_patient_days=60 * 7)


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(SMALL))


def _trial(patients: int = 40, **extra: object) -> dict:
    return {"arms": [{"name": "ketamine", "regimen": {"protocol": "zarate-2006-iv"}},
                     {"name": "midazolam", "regimen": {"control": "midazolam"}}],
            "patients": patients, "duration_days": 7, "visits_days": [1, 7], "seed": 11, **extra}  # fmt: skip


def _wait(client: TestClient, job_id: str, timeout: float = 120) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        body = client.get(f"/api/trials/{job_id}").json()
        if body["state"] not in ("queued", "running"):
            return body
        time.sleep(0.05)
    raise AssertionError("trial job did not finish")


def test_simulate_is_the_python_api(client: TestClient) -> None:
    req = {"regimen": {"doses": [{"drug": "ketamine", "route": "iv", "amount": 0.75, "unit": "mg/kg",
                                  "duration_min": 40, "repeat_count": 2, "repeat_every_h": 48}]},
           "patient": {"weight_kg": 82, "sex": "female", "age_y": 61, "psychotherapy_days": [1.5],
                       "stress_load": 1.4, "drinks_per_day": 3},
           "hypotheses": {"disinhibition": False}, "duration_days": 4, "output_step_min": 30}  # fmt: skip
    resp = client.post("/api/simulate", json=req)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    ref = ks.simulate(
        ks.Regimen([ks.Dose("ketamine", "iv", "0.75 mg/kg", duration="40 min", at=t) for t in ("0 h", "48 h")]),
        ks.Patient(weight="82 kg", sex="female", age=61, psychotherapy=["1.5 d"], stress_load=1.4, drinks_per_day=3),
        duration="4 d", output_step="30 min", hypotheses=ks.Hypotheses(disinhibition=False),
    )  # fmt: skip
    ds = ref.dataset
    np.testing.assert_array_equal(body["time_h"], ds["time"].values)
    assert len(body["time_h"]) == 4 * 48 + 1
    for name in ("ketamine_plasma", "nmda_occupancy", "glutamate", "bdnf", "mtorc1", "synapse_density", "madrs",
                 "cadss", "sbp_change"):  # fmt: skip
        np.testing.assert_allclose(body["series"][name], ds[name].values[0], rtol=1e-12, atol=0)
    assert body["summary"]["cmax_ng_ml"] == pytest.approx(ref.summary()["cmax_ng_ml"], rel=1e-12)
    assert body["units"]["ketamine_plasma"] == "ng/mL"
    assert body["regimen"] == [
        "ketamine 0.75 mg/kg iv over 40 min at 0 h",
        "ketamine 0.75 mg/kg iv over 40 min at 48 h",
    ]
    # every layer of the chain is drawn, in causal order
    assert [p["title"] for p in body["panels"]][:3] == ["Plasma (venous)", "Receptors", "Circuit"]


def test_doubling_the_dose_doubles_the_plasma_peak(client: TestClient) -> None:
    peaks = []
    for amount in (20.0, 40.0):
        req = {"regimen": {"doses": [{"amount": amount, "unit": "mg", "duration_min": 40}]}, "duration_days": 1}
        peaks.append(client.post("/api/simulate", json=req).json()["summary"]["cmax_ng_ml"])
    assert peaks[1] / peaks[0] == pytest.approx(2.0, rel=1e-6)  # linear kinetics at these doses


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"patient": {"weight_kg": 5}}, "patient.weight_kg", "greater than or equal to 20"),
        ({"patient": {"age_y": 101}}, "patient.age_y", "less than or equal to 100"),
        ({"patient": {"biotype": "x"}}, "patient.biotype", "synaptic"),
        ({"patient": {"psychotherapy_days": [1, 400]}}, "patient.psychotherapy_days[1]", "0-180"),
        ({"duration_days": 181}, "duration_days", "180"),
        ({"duration_days": 30, "output_step_min": 1}, "output_step_min", "at most 20,001"),
        ({"regimen": {"protocol": "nope"}}, "regimen.protocol", "unknown protocol"),
        ({"regimen": {}}, "regimen", "exactly one of protocol, control or doses"),
        ({"regimen": {"doses": [{"amount": 30, "unit": "mg/kg"}]}}, "regimen.doses[0].amount", "20 mg/kg"),
        ({"regimen": {"doses": [{"amount": 30}]}}, "regimen.doses[0].unit", "required"),
        (
            {"regimen": {"doses": [{"drug": "esketamine", "route": "intranasal", "amount": 30, "unit": "mg"}]}},
            "regimen.doses[0].amount",
            "28 mg",
        ),
        (  # the error of a repeated dose names the request's dose, not the repeat's index
            {
                "regimen": {
                    "doses": [
                        {"amount": 0.5, "unit": "mg/kg", "repeat_count": 3},
                        {"route": "oral", "amount": 50, "unit": "mg", "duration_min": 40},
                    ]
                }
            },
            "regimen.doses[1].duration_min",
            "only IV doses can be infusions",
        ),
        ({"patient": {"weight_kg": "heavy"}}, "patient.weight_kg", "number"),
        ({"extra": 1}, "extra", "not permitted"),
    ],
)
def test_refusals_name_the_field(client: TestClient, body: dict, field: str, words: str) -> None:
    resp = client.post("/api/simulate", json=body)
    assert resp.status_code == 422, resp.text
    err = resp.json()
    assert err["field"] == field
    assert err["message"].startswith(f"{field}: ")
    assert words in err["message"]
    assert "Traceback" not in resp.text


def test_malformed_json_unknown_paths_and_huge_bodies_are_answered_in_the_same_form(client: TestClient) -> None:
    resp = client.post("/api/simulate", content=b"{not json", headers={"content-type": "application/json"})
    assert resp.status_code == 422 and resp.json()["field"] == "body"
    resp = client.get("/api/nothing-here")
    assert resp.status_code == 404 and resp.json()["message"] == "path: no such page or API path"
    resp = client.get("/api/simulate")
    assert resp.status_code == 405 and resp.json()["field"] == "path"
    resp = client.post("/api/simulate", content=b" " * 1_000_001, headers={"content-type": "application/json"})
    assert resp.status_code == 413 and resp.json()["field"] == "body"
    for r in (resp, client.get("/api/nothing-here")):
        assert "Traceback" not in r.text


def test_a_loopback_server_answers_only_loopback_host_names() -> None:
    """DNS rebinding: a page elsewhere whose name resolves to 127.0.0.1 must not reach the API."""
    from ketasim.serve._app import LOOPBACK_HOSTS

    app = create_app(SMALL, trusted_hosts=LOOPBACK_HOSTS)
    assert TestClient(app, base_url="http://127.0.0.1:8000").get("/api/protocols").status_code == 200
    assert TestClient(app, base_url="http://localhost:8000").get("/api/protocols").status_code == 200
    assert TestClient(app, base_url="http://attacker.example").get("/api/protocols").status_code == 400


def test_the_log_time_grid_keeps_every_peak(client: TestClient) -> None:
    """A log axis spaces points hours apart by day 7; the dose windows keep each infusion's peak."""
    req = {"regimen": {"protocol": "murrough-2013-six-infusions"}, "duration_days": 13}  # 1-min grid fits
    log = client.post("/api/simulate", json={**req, "time_grid": "log"}).json()
    fine = client.post("/api/simulate", json={**req, "output_step_min": 1}).json()
    t_log, c_log = np.array(log["time_h"]), np.array(log["series"]["ketamine_plasma"])
    t_fine, c_fine = np.array(fine["time_h"]), np.array(fine["series"]["ketamine_plasma"])
    assert np.isin(t_log, t_fine).all()  # picked from the 1-min grid, not interpolated
    np.testing.assert_array_equal(c_log, c_fine[np.searchsorted(t_fine, t_log)])
    for start in ks.protocols.get("murrough-2013-six-infusions").doses:
        w_log, w_fine = (
            (t_log >= start.at_h) & (t_log <= start.at_h + 2),
            (t_fine >= start.at_h) & (t_fine <= start.at_h + 2),
        )
        assert c_log[w_log].max() >= 0.97 * c_fine[w_fine].max(), start.at_h
    assert len(t_log) <= 600 + 6 * 2 * 25 + 2


def test_scenario_toml_is_what_ketasim_trial_runs(client: TestClient) -> None:
    req = _trial(hypotheses={"rest_block": False})
    text = client.post("/api/scenario", json=req).text
    sc = parse_scenario(text)
    assert set(sc.arms) == {"ketamine", "midazolam"}
    assert sc.population.n == 40 and sc.seed == 11 and sc.control == "midazolam"
    assert sc.arms["midazolam"].control == "midazolam" and sc.arms["midazolam"].schedule == "zarate-2006-iv"
    assert sc.hypotheses.rest_block is False
    assert tomllib.loads(text)["endpoints"]["visits"] == ["1.0 d", "7.0 d"]
    # the trial the page runs is the scenario's trial: same patients, same numbers
    job = client.post("/api/trials", json=req)
    assert job.status_code == 202, job.text
    done = _wait(client, job.json()["id"])
    assert done["state"] == "done" and done["progress"] == 1.0
    direct = sc.trial().run(sc.seed).to_json()
    for arm in ("ketamine", "midazolam"):
        for key in ("n", "madrs_change_24h", "response_24h", "remission_7d"):
            assert done["result"]["arms"][arm][key] == pytest.approx(direct["arms"][arm][key], rel=1e-12), key
    res = done["result"]
    assert res["arms_ci"]["ketamine"]["response_24h"]["lower"] <= res["arms"]["ketamine"]["response_24h"]
    assert len(res["examples"]["ketamine"]) > 0 and len(res["series"]["ketamine"]["time_h"]) > 1


def test_trial_limits_and_jobs(client: TestClient) -> None:
    resp = client.post("/api/trials", json=_trial(patients=61))
    assert resp.status_code == 422 and resp.json()["field"] == "patients" and "2-60" in resp.json()["message"]
    resp = client.post("/api/trials", json=_trial(visits_days=[9]))
    assert resp.status_code == 422 and resp.json()["field"] == "visits_days[0]"
    resp = client.post("/api/trials", json={**_trial(), "duration_days": 8, "visits_days": [1]})
    assert resp.status_code == 422 and resp.json()["field"] == "duration_days"
    assert client.get("/api/trials/nope").status_code == 404
    assert client.delete("/api/trials/nope").status_code == 404
    # one job at a time; a second is refused while the first runs, and cancelling stops it between chunks
    first = client.post("/api/trials", json=_trial(patients=60)).json()
    second = client.post("/api/trials", json=_trial(patients=10))
    if second.status_code == 202:  # the first finished already (a fast machine): nothing left to check
        _wait(client, second.json()["id"])
        return
    assert second.status_code == 429 and "another trial" in second.json()["message"]
    client.delete(f"/api/trials/{first['id']}")
    state = _wait(client, first["id"])["state"]
    assert state in ("cancelled", "done")


def test_options_protocols_parameters(client: TestClient) -> None:
    opts = client.get("/api/options").json()
    assert opts["limits"]["trial_patients"] == 60 and opts["hypotheses"]["disinhibition"]["default"] is True
    names = [p["name"] for p in client.get("/api/protocols").json()]
    assert names == ks.protocols.names()
    params = client.get("/api/parameters").json()
    assert len(params) == len(ks.default_parameters())
    assert all(p["source"] or p["assumption"] for p in params)  # every parameter cited or a stated assumption
    linked = [p for p in params if p["doi_url"]]
    assert linked and all(p["doi_url"].startswith("https://doi.org/10.") for p in linked)


def test_page_and_assets_come_from_the_package(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "ketasim explorer" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    for asset in ("/static/app.js", "/static/app.css", "/static/plotly.min.js"):
        resp = client.get(asset)
        assert resp.status_code == 200 and len(resp.content) > 1000, asset
    for path in ("/static/%2e%2e/_app.py", "/static/..%2f_app.py", "/static/%2e%2e/%2e%2e/cli.py"):
        assert client.get(path).status_code == 404, path  # encoded: the client cannot tidy it away
    assert client.get("/docs").status_code == 404  # FastAPI's docs page would load scripts from a CDN
    schema = client.get("/openapi.json").json()
    assert {"/api/simulate", "/api/trials", "/api/protocols", "/api/parameters"} <= set(schema["paths"])


def test_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


def test_the_command(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from _cli import cli

    code, out, _ = cli(capsys, "serve", "--help")
    assert code == 0 and "--host" in out and "--port" in out and "127.0.0.1" in out
    code, _, err = cli(capsys, "serve", "--port", "0")
    assert code == 2 and "port: must be within 1-65535" in err and "Traceback" not in err
    # another address than loopback is served only with a warning (the server itself is not started here)
    import uvicorn

    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: calls.append((host, port)))
    code, _, err = cli(capsys, "serve", "--host", "0.0.0.0", "--port", "8123")
    assert code == 0 and calls == [("0.0.0.0", 8123)]
    assert "WARNING: serving on 0.0.0.0" in err and "http://0.0.0.0:8123/" in err
    code, _, err = cli(capsys, "serve")
    assert calls[-1] == ("127.0.0.1", 8000) and "WARNING" not in err
