"""An answer is closed once, as soon as its last chunk is taken (the development server may not)."""

from llm_router_api.wsgi_close import CloseWhenExhausted


class _Answer:
    def __init__(self):
        self.closed = 0

    def __iter__(self):
        yield b"a"
        yield b"b"

    def close(self):
        self.closed += 1


def test_closed_once_at_exhaustion_and_not_again_by_the_server():
    answer = _Answer()
    wrapped = CloseWhenExhausted(lambda environ, start_response: answer)({}, None)
    assert next(wrapped) == b"a" and answer.closed == 0
    assert list(wrapped) == [b"b"] and answer.closed == 1
    wrapped.close()
    assert answer.closed == 1


def test_a_client_that_leaves_early_still_gets_the_answer_closed_by_the_server():
    answer = _Answer()
    wrapped = CloseWhenExhausted(lambda environ, start_response: answer)({}, None)
    next(wrapped)
    wrapped.close()
    assert answer.closed == 1
