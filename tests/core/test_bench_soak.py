"""The soak's pure parts: dealer copies and what each is served, and the fault count."""

from __future__ import annotations

import random

from od.bench.soak import Faults, copies, inject, served
from od.demo.main import example_dealers
from od.demo.sources import SampleSources
from od.fakes.server import Fault


def test_copies_are_distinct_dealers_on_the_shared_sources() -> None:
    originals = example_dealers()
    sources = SampleSources(originals)
    for d in originals:  # what start() serves, without the servers
        if d.homenet is not None:
            sources.homenet.rooftops[d.homenet.rooftop_id] = [{"vin": d.dealer_id}]
    dealers = copies(sources, originals, 3)
    assert len({d.dealer_id for d in dealers}) == len({d.slug for d in dealers}) == 3 * len(originals)
    assert len({d.event_id for d in dealers}) == len(dealers)
    rooftops = [d.homenet.rooftop_id for d in dealers if d.homenet is not None]
    assert len(set(rooftops)) == len(rooftops) and set(rooftops) <= set(sources.homenet.rooftops)
    assert sources.homenet.rooftops["18842-001"] == [{"vin": "lakeside-honda"}]
    expected = served(sources, dealers)
    assert {dealer for dealer, _ in expected} == {d.dealer_id for d in dealers}
    assert len(expected[("lakeside-honda-002", "dealer_com")]) == len(sources.inventories["lakeside-honda"].dealer_com)


def test_faults_count_the_requests_that_got_one() -> None:
    faults = Faults()
    fault = faults.add(Fault(status=503, times=3))
    assert fault.use() and fault.use()
    assert faults.used == 2
    inject(random.Random(1), SampleSources(example_dealers()), faults, 4)
    assert faults.used == 2  # set, not yet used
