from __future__ import annotations

import base64
import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from cxprism.channels.twilio.signature import (
    body_sha256,
    twilio_signature,
    url_variants,
    verify_twilio,
    verify_twilio_body,
)

# The example in Twilio's "Webhooks security" documentation.
DOC_TOKEN = "12345"
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"),
              ("Digits", "1234"), ("From", "+12349013030"), ("To", "+18005551212")]
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

# Vectors published with Twilio's Python helper library (same token and URL).
LIB_PARAMS = [("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"), ("From", "+14158675309"),
              ("To", "+18005551212"), ("Caller", "+14158675309")]
LIB_BODY = b'{"property": "value", "boolean": true}'
LIB_BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"


def test_twilio_documented_example() -> None:
    assert twilio_signature(DOC_TOKEN, DOC_URL, DOC_PARAMS) == DOC_SIGNATURE
    assert verify_twilio(DOC_TOKEN, DOC_URL, DOC_PARAMS, DOC_SIGNATURE)


def test_parameter_order_on_the_wire_does_not_matter() -> None:
    assert twilio_signature(DOC_TOKEN, DOC_URL, list(reversed(DOC_PARAMS))) == DOC_SIGNATURE


def test_library_vectors_with_and_without_ports() -> None:
    assert verify_twilio(DOC_TOKEN, DOC_URL, LIB_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    # Signed without the port although the request URL has one...
    assert verify_twilio(DOC_TOKEN, DOC_URL.replace(".com", ".com:1234"), LIB_PARAMS,
                         "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    # ...or signed with the default port the request URL left out.
    assert verify_twilio(DOC_TOKEN, DOC_URL, LIB_PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w=")
    assert verify_twilio(DOC_TOKEN, DOC_URL.replace("https", "http"), LIB_PARAMS,
                         "0ZXoZLH/DfblKGATFgpif+LLRf4=")


def test_json_body_variant() -> None:
    assert body_sha256(LIB_BODY) == LIB_BODY_HASH
    url = f"{DOC_URL}&bodySHA256={LIB_BODY_HASH}"
    assert verify_twilio_body(DOC_TOKEN, url, LIB_BODY, "a9nBmqA0ju/hNViExpshrM61xv4=")
    assert not verify_twilio_body(DOC_TOKEN, url, LIB_BODY + b" ",
                                  "a9nBmqA0ju/hNViExpshrM61xv4=")
    assert not verify_twilio_body(DOC_TOKEN, DOC_URL, LIB_BODY, "a9nBmqA0ju/hNViExpshrM61xv4=")


def test_repeated_names_contribute_every_value_sorted() -> None:
    url = "https://example.com/hook"
    params = [("MediaUrl", "https://b.example/2"), ("Body", "hi"),
              ("MediaUrl", "https://a.example/1")]
    data = url + "Bodyhi" + "MediaUrlhttps://a.example/1" + "MediaUrlhttps://b.example/2"
    expected = base64.b64encode(hmac.new(b"token", data.encode(), hashlib.sha1).digest())
    assert twilio_signature("token", url, params) == expected.decode()


def test_bad_missing_and_tampered_signatures_are_refused() -> None:
    assert not verify_twilio(DOC_TOKEN, DOC_URL, DOC_PARAMS, None)
    assert not verify_twilio(DOC_TOKEN, DOC_URL, DOC_PARAMS, "")
    assert not verify_twilio(DOC_TOKEN, DOC_URL, DOC_PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ")
    assert not verify_twilio("54321", DOC_URL, DOC_PARAMS, DOC_SIGNATURE)
    tampered = [(k, "+19999999999" if k == "From" else v) for k, v in DOC_PARAMS]
    assert not verify_twilio(DOC_TOKEN, DOC_URL, tampered, DOC_SIGNATURE)
    assert not verify_twilio(DOC_TOKEN, DOC_URL, [*DOC_PARAMS, ("Extra", "1")], DOC_SIGNATURE)
    assert not verify_twilio(DOC_TOKEN, DOC_URL + "&baz=3", DOC_PARAMS, DOC_SIGNATURE)
    assert not verify_twilio(DOC_TOKEN, DOC_URL, DOC_PARAMS, "é\ud800 not base64")


def test_url_variants() -> None:
    assert url_variants("https://a.example/x?y=1") == [
        "https://a.example/x?y=1", "https://a.example:443/x?y=1"]
    assert url_variants("http://a.example:8080/x") == [
        "http://a.example:8080/x", "http://a.example/x"]
    assert url_variants("https://a.example:99999/x") == ["https://a.example:99999/x"]
    assert url_variants("ftp://a.example/x") == ["ftp://a.example/x"]


params_strategy = st.lists(st.tuples(st.text(min_size=1, max_size=12), st.text(max_size=30)),
                           max_size=8)


@given(params=params_strategy, token=st.text(min_size=1, max_size=40))
def test_any_signed_form_verifies_and_any_change_does_not(
        params: list[tuple[str, str]], token: str) -> None:
    url = "https://cx.example.com/hooks/twilio_sms/1"
    signature = twilio_signature(token, url, params)
    assert verify_twilio(token, url, params, signature)
    assert not verify_twilio(token, url, [*params, ("Tampered", "x")], signature)
