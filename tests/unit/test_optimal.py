from freedave.decoding.optimal import attainable_nfe, min_jumps, oracle_nfe


def test_no_parallelism_bound_is_static():
    reach = [1] * 10
    assert oracle_nfe(reach) == 10
    assert attainable_nfe(reach) == 10


def test_full_reach():
    reach = [10] + [1] * 9
    assert oracle_nfe(reach) == 1
    assert attainable_nfe(reach) == 2  # the last jump must be verified too


def test_jump_game_beats_farthest_first():
    # farthest-first from 0 lands on 3 (reach 1) -> 0,3,4,... ; landing on 1 (reach 9) is better
    reach = [3, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert min_jumps(reach, 10) == 2
    assert attainable_nfe(reach) == 1 + 2
