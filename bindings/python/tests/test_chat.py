"""Chat templates, Session.chat and Conversation."""

import pytest

import kaa


def test_chat_template_render():
    t = kaa.ChatTemplate.chatml()
    msgs = [{"role": "system", "content": "Be brief."}, ("user", "Hi")]
    assert t.render(msgs) == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                              "<|im_start|>assistant\n")
    assert not t.render(msgs, add_generation_prompt=False).endswith("assistant\n")
    custom = kaa.ChatTemplate("{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}")
    assert custom.render([("user", "x")], bos_token="<s>") == "<s>[user] x\n"


def test_bad_templates():
    with pytest.raises(kaa.Error) as e:
        kaa.ChatTemplate("{% if %}")
    assert e.value.code == kaa.ErrorCode.template_error
    t = kaa.ChatTemplate("{{ raise_exception('no system role') }}")
    with pytest.raises(kaa.Error, match="no system role") as e:
        t.render([("user", "x")])
    assert e.value.code == kaa.ErrorCode.template_error
    with pytest.raises(ValueError):
        kaa.ChatTemplate.chatml().render([{"role": "user"}])


def test_model_template(q8_model):
    t = q8_model.template()
    assert t.render([("user", "Hi")]).startswith("<|im_start|>user\nHi<|im_end|>\n")


def test_session_chat_is_incremental(q8_model):
    opts = dict(max_tokens=6, temperature=0, ignore_eos=True)
    s = q8_model.session()
    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}]
    r1 = s.chat(msgs, **opts)
    assert s.last_result.tokens
    pos1 = s.position
    msgs += [{"role": "assistant", "content": r1}, {"role": "user", "content": "And then?"}]
    r2 = s.chat(msgs, **opts)
    assert s.position > pos1
    # The incremental run equals a fresh one over the whole conversation.
    fresh = q8_model.session()
    assert fresh.chat(msgs, **opts) == r2
    # Streaming gives the same pieces.
    again = q8_model.session()
    assert "".join(again.chat(msgs, stream=True, **opts)) == r2
    with pytest.raises(ValueError):
        s.chat([{"role": "assistant", "content": "x"}])


def test_conversation_object(q8_model):
    s = q8_model.session()
    conv = kaa.Conversation(s)
    conv.add("system", "You are terse.")
    reply = conv.reply("Hi", max_tokens=5, temperature=0)
    assert [m["role"] for m in conv.messages] == ["system", "user", "assistant"]
    assert conv.messages[-1]["content"] == reply
    st = s.state()
    st.user_data = conv.serialize()
    # Resume elsewhere from the saved state + bookkeeping.
    s2 = q8_model.session()
    s2.set_state(kaa.State.deserialize(st.serialize()))
    conv2 = kaa.Conversation(s2)
    conv2.restore(st.user_data)
    assert conv2.messages == conv.messages
    assert conv2.reply("More", max_tokens=4, temperature=0) == conv.reply("More", max_tokens=4, temperature=0)
    with pytest.raises(kaa.Error) as e:
        conv2.restore(b"junk")
    assert e.value.code == kaa.ErrorCode.invalid_state


def test_sampler_object(q8_model, hello_ids):
    logits = q8_model.session().eval(hello_ids)
    greedy = kaa.Sampler(kaa.SamplerParams(temperature=0), q8_model.n_vocab)
    assert greedy.sample(logits) == int(logits.argmax())
    s = kaa.Sampler(kaa.SamplerParams(temperature=1.0, seed=7), q8_model.n_vocab)
    a = [s.sample(logits) for _ in range(3)]
    s.reset()
    assert [s.sample(logits) for _ in range(3)] == a
    assert s.seed == 7
    with pytest.raises(kaa.Error):
        s.accept(-1)
    with pytest.raises(kaa.Error):
        s.sample(logits[:10])
