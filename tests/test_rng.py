"""resilsim.rng's C-level block draws against their plain-Python form: the same numbers, blocks drawn at the same
moments (so a Generator shared with other draws sees the same sequence)."""
import numpy as np

from resilsim.rng import BlockRandom, block_sampler


class _PlainBlocks:
    """The general form: a Python method indexing the current block, drawing the next block when it is used up."""

    def __init__(self, draw, size):
        self.draw, self.size, self.block, self.i = draw, size, [], 0

    def __call__(self):
        if self.i >= len(self.block):
            self.block, self.i = self.draw(self.size).tolist(), 0
        self.i += 1
        return self.block[self.i - 1]


def test_block_random_matches_the_plain_form_with_interleaved_draws():
    # Two Generators with the same seed; on each, other draws come between ours (as when a stream is shared):
    # they see the same numbers only if blocks are drawn at the same moments.
    fast_gen, plain_gen = np.random.default_rng(7), np.random.default_rng(7)
    fast, plain = BlockRandom(fast_gen, size=16), _PlainBlocks(plain_gen.random, 16)
    for k in range(100):
        assert fast.random() == plain()
        if k % 13 == 0:
            assert fast_gen.integers(1 << 40) == plain_gen.integers(1 << 40)
    assert fast_gen.random() == plain_gen.random()


def test_block_random_draws_nothing_before_its_first_number():
    gen, ref = np.random.default_rng(3), np.random.default_rng(3)
    rng = BlockRandom(gen)
    assert gen.random() == ref.random()  # making it drew nothing
    assert rng.random() == ref.random(4096)[0]


def test_block_sampler_matches_the_plain_form():
    fast_gen, plain_gen = np.random.default_rng(11), np.random.default_rng(11)
    fast = block_sampler(lambda n: fast_gen.lognormal(0.0, 0.5, n), 10)
    plain = _PlainBlocks(lambda n: plain_gen.lognormal(0.0, 0.5, n), 10)
    values = [fast() for _ in range(35)]
    assert values == [plain() for _ in range(35)]
    assert all(type(v) is float for v in values)
    assert fast_gen.random() == plain_gen.random()  # 4 blocks drawn on each
