"""SHA-256 of every file of the models shipped in ``psyprofile/models/bundled/``.

Written by ``scripts/build_bundled_models.py`` (do not edit): a bundled model loads only
if its files are exactly these (see :mod:`psyprofile.models.integrity`).
"""

SHA256: dict[str, dict[str, str]] = {
    "age-blogs": {
        "arrays.npz": "85500c1936f2bb6252d0dc6789775435a30e0603a25896ef8662534d4c5b9cad",
        "card.json": "f553a8f666718b0a15a43349f2331587fec2be0a90044a4c6cbc134fc20fcb97",
        "card.md": "e8e38a84795867b962145d320fd0cf7744e27336fec981f5748d42abcbee186d",
        "folds.csv": "debdb3286c46893ea760b4f6d26fabd7de01bd2e3b29963892c43b1a27dc5976",
        "model.json": "1ead0dc131cb0ccae1140e12fe7fe09ae0e930d7b3eb0ae881acf11a884a8655"
    },
    "gender-blogs": {
        "arrays.npz": "072975b0008e79f0162d95ab74e3b0e95d4aa9bf0e03b1d8b00e65aa334806db",
        "card.json": "63c7fab93e603a66ad6190ec5909bf42618d6bba1a693732fb912598a9ae3106",
        "card.md": "db450fc6eb10e87def016193c836188be0d8b22311814e2567db60aa02586909",
        "folds.csv": "2db0e8efa6de1e3e5814b835b7a90e1687a9930a3757d67d1ca8b583489a885c",
        "model.json": "e84a7a0a1aedecd5c1c0f00d92893e5b4ddc33951b299badbf38079b692cd940"
    },
    "sap2014-age": {
        "card.json": "97acb09ae8a794a796a01f0fdaced0495d33c95e81158dc34820cebc01a16a10",
        "card.md": "81e1bbacc06dbb2474aad3bcfab6930f850ee765c6ddfdbe35fd4c60e39e4af7",
        "model.json": "76319312cab2ee47d22c7abb71a9b6e5334eed87275bb994ac977ca731dfc948"
    },
    "sap2014-gender": {
        "card.json": "713dcdcbc71115922e6249ee9356ea72d24c02b8b37b295ad6ab4d843d33ed72",
        "card.md": "420c9c3c758b3e3e3abb4b079ae96807ba85554ecae85e21f44bf3b107e473f0",
        "model.json": "da16bec10f3de3e904c4fac164f507358df69025885b6dae5e2b9afd676afe5b"
    }
}
