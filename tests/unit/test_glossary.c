/* Glossary: parsing and validation of both forms, the canonical JSON, term
 * matching, and terms carried through the real Apertium pipelines (direct
 * and pivoted through Spanish). */
#include <cjson/cJSON.h>

#include "engine/mt.h"
#include "glossary/glossary.h"
#include "test.h"
#include "util/err.h"

static const char example_json[] =
    "[{\"term\": \"prudently\"}, {\"term\": \"Dashwood\", \"keep\": true},"
    " {\"term\": \"Holy  Spirit\", \"translations\": {\"es\": \"Espíritu Santo\","
    " \"ca\": \"Esperit Sant\", \"fr\": \"Saint-Esprit\"}},"
    " {\"term\": \"Kubernetes\", \"sounds_like\": \"koo ber net ease\"}]";

/* Only es, ca and fr are offered; "spa" is written "es". */
static int three_langs(void *user, const char *code, char out[LANG_CODE_MAX])
{
    (void)user;
    if (lang_code_normalize(code, strlen(code), out) != 0)
        return BC_ENOTFOUND;
    return strcmp(out, "es") == 0 || strcmp(out, "ca") == 0 || strcmp(out, "fr") == 0
               ? 0
               : BC_ENOTFOUND;
}

static struct glossary *parse_json(const char *json)
{
    struct glossary *g;
    char err[GLOSSARY_ERROR_MAX];
    int rc = glossary_parse_json(json, three_langs, NULL, &g, err, sizeof err);
    if (rc != 0)
        TEST_FAIL_("glossary_parse_json: %s", err);
    return g;
}

static void expect_json_error(const char *json, const char *message)
{
    struct glossary *g = NULL;
    char err[GLOSSARY_ERROR_MAX] = "";
    ASSERT_EQ(glossary_parse_json(json, three_langs, NULL, &g, err, sizeof err), BC_EINVAL);
    ASSERT(g == NULL);
    ASSERT_STR_CONTAINS(err, message);
    printf("ok: %.60s -> %s\n", json, err);
}

static void expect_text_error(const char *text, const char *message)
{
    struct glossary *g = NULL;
    char err[GLOSSARY_ERROR_MAX] = "";
    ASSERT_EQ(glossary_parse_text(text, strlen(text), three_langs, NULL, &g, err, sizeof err),
              BC_EINVAL);
    ASSERT(g == NULL);
    ASSERT_STR_CONTAINS(err, message);
    printf("ok: text -> %s\n", err);
}

static void test_json_round_trip(void)
{
    struct glossary *g = parse_json(example_json);
    ASSERT_EQ(glossary_count(g), 4);
    ASSERT_STR_EQ(glossary_term(g, 2), "Holy Spirit");
    ASSERT_STR_EQ(glossary_sounds_like(g, 3), "koo ber net ease");
    ASSERT_STR_EQ(glossary_sounds_like(g, 0), "");
    char *json = glossary_to_json(g);
    ASSERT_STR_EQ(json, "[{\"term\":\"prudently\"},{\"term\":\"Dashwood\",\"keep\":true},"
                        "{\"term\":\"Holy Spirit\",\"translations\":{\"es\":\"Espíritu Santo\","
                        "\"ca\":\"Esperit Sant\",\"fr\":\"Saint-Esprit\"}},"
                        "{\"term\":\"Kubernetes\",\"sounds_like\":\"koo ber net ease\"}]");
    struct glossary *again = parse_json(json);
    char *json2 = glossary_to_json(again);
    ASSERT_STR_EQ(json2, json);
    free(json);
    free(json2);
    glossary_free(again);
    glossary_free(g);
    char *empty = glossary_to_json(NULL);
    ASSERT_STR_EQ(empty, "[]");
    free(empty);
}

static void test_text_form(void)
{
    static const char text[] = "# names\r\n"
                               "Dashwood\tkeep\n"
                               "\n"
                               "Holy Spirit\tspa=Espíritu Santo\tca=Esperit Sant\n"
                               "Kubernetes\tsounds_like=koo ber net ease\n"
                               "prudently";
    struct glossary *g;
    char err[GLOSSARY_ERROR_MAX];
    int rc = glossary_parse_text(text, strlen(text), three_langs, NULL, &g, err, sizeof err);
    if (rc != 0)
        TEST_FAIL_("glossary_parse_text: %s", err);
    char *json = glossary_to_json(g);
    ASSERT_STR_EQ(json, "[{\"term\":\"Dashwood\",\"keep\":true},{\"term\":\"Holy Spirit\","
                        "\"translations\":{\"es\":\"Espíritu Santo\",\"ca\":\"Esperit Sant\"}},"
                        "{\"term\":\"Kubernetes\",\"sounds_like\":\"koo ber net ease\"},"
                        "{\"term\":\"prudently\"}]");
    free(json);
    glossary_free(g);
    ASSERT_OK(glossary_parse_text("", 0, three_langs, NULL, &g, err, sizeof err));
    ASSERT_EQ(glossary_count(g), 0);
    glossary_free(g);
}

static void test_bad_glossaries(void)
{
    expect_json_error("{\"term\": \"x\"}", "must be an array");
    expect_json_error("[", "not valid JSON");
    expect_json_error("[\"word\"]", "term 1 is not an object");
    expect_json_error("[{\"keep\": true}]", "needs \"term\"");
    expect_json_error("[{\"term\": \"   \"}]", "term 1 is empty");
    expect_json_error("[{\"term\": \"a\"}, {\"term\": \"\"}]", "term 2 is empty");
    expect_json_error("[{\"term\": \"\xff\xfe\"}]", "not valid UTF-8");
    expect_json_error("[{\"term\": \"tab\\there\"}]", "control character");
    expect_json_error("[{\"term\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}]",
                      "longer than 64 bytes");
    expect_json_error("[{\"term\": \"a b c d e f g h i\"}]", "more than 8 words");
    expect_json_error("[{\"term\": \"x\", \"translations\": {\"xx\": \"y\"}}]",
                      "unknown language 'xx'");
    expect_json_error("[{\"term\": \"x\", \"translations\": {\"de\": \"y\"}}]",
                      "unknown language 'de'");
    expect_json_error("[{\"term\": \"x\", \"translations\": {\"es\": \"\"}}]",
                      "es translation is empty");
    expect_json_error("[{\"term\": \"x\", \"translations\": {\"es\": 3}}]", "must be a string");
    expect_json_error("[{\"term\": \"x\", \"translations\": {\"es\": \"y\", \"spa\": \"z\"}}]",
                      "two translations into es");
    expect_json_error("[{\"term\": \"x\", \"keep\": true, \"translations\": {\"es\": \"y\"}}]",
                      "exclude each other");
    expect_json_error("[{\"term\": \"x\", \"keep\": 1}]", "keep must be true or false");
    expect_json_error("[{\"term\": \"x\", \"colour\": \"red\"}]", "unknown field 'colour'");
    expect_json_error("[{\"term\": \"Paris\"}, {\"term\": \"paris\"}]", "listed twice");
    char big[GLOSSARY_TERMS_MAX * 20 + 16];
    size_t n = (size_t)snprintf(big, sizeof big, "[");
    for (int i = 0; i <= GLOSSARY_TERMS_MAX; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s{\"term\":\"t%d\"}", i ? "," : "", i);
    snprintf(big + n, sizeof big - n, "]");
    expect_json_error(big, "more than 100 terms");
    expect_text_error("ok\nbad\tes=\n", "line 2:");
    expect_text_error("ok\nbad\tde=Wort\n", "unknown language 'de'");
    expect_text_error("x\tnonsense\n", "line 1: 'nonsense' is not keep");
    expect_text_error("\xc3\x28\n", "line 1: glossary term 1 is not valid UTF-8");
}

/* A translator that upper-cases, to see exactly what reaches the engine. */
static int fake_translate(void *user, const char *lang, const char *text, char **out)
{
    (void)lang;
    char **seen = user;
    free(*seen);
    *seen = strdup(text);
    *out = strdup(text);
    for (char *p = *out; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return 0;
}

static void test_matching(void)
{
    struct glossary *g = parse_json(example_json);
    char *seen = NULL, *out = NULL;
    ASSERT_OK(glossary_translate(g, fake_translate, &seen, "es",
                                 "the holy spirit told dashwood to act prudently", &out));
    ASSERT_STR_EQ(seen, "the Zxq0 told Zxq1 to act prudently");
    /* The placeholders come back upper-cased: case does not matter. */
    ASSERT_STR_EQ(out, "THE Espíritu Santo TOLD Dashwood TO ACT PRUDENTLY");
    free(out);
    /* No Italian translation: only the kept term is protected. */
    ASSERT_OK(glossary_translate(g, fake_translate, &seen, "it", "holy spirit and dashwood", &out));
    ASSERT_STR_EQ(seen, "holy spirit and Zxq0");
    free(out);
    /* Whole words only; nothing protected: the text goes as it is. */
    ASSERT_OK(glossary_translate(g, fake_translate, &seen, "es", "dashwoods  holy", &out));
    ASSERT_STR_EQ(seen, "dashwoods  holy");
    free(out);
    ASSERT_OK(glossary_translate(NULL, fake_translate, &seen, "es", "dashwood", &out));
    ASSERT_STR_EQ(seen, "dashwood");
    free(out);
    free(seen);
    char *spelled = glossary_spell_source(g, "the holy spirit and dashwood and kubernetes");
    ASSERT_STR_EQ(spelled, "the Holy Spirit and Dashwood and Kubernetes");
    free(spelled);
    glossary_free(g);
}

static int real_translate(void *user, const char *lang, const char *text, char **out)
{
    return mt_translate(user, lang, text, out);
}

static void test_through_apertium(void)
{
    struct mt *mt;
    ASSERT_OK(mt_new(NULL, &mt));
    struct glossary *g = parse_json(example_json);
    static const struct {
        const char *lang, *text, *want[2];
    } cases[] = {
        {"es", "the holy spirit is good and dashwood is here", {"Espíritu Santo", "Dashwood"}},
        {"ca", "the holy spirit is good and dashwood is here", {"Esperit Sant", "Dashwood"}},
        {"fr", "the holy spirit is good and dashwood is here", {"Saint-Esprit", "Dashwood"}},
        {"es", "i saw dashwood yesterday", {"Dashwood", "ayer"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *plain = NULL, *out = NULL;
        ASSERT_OK(mt_translate(mt, cases[i].lang, cases[i].text, &plain));
        ASSERT_OK(glossary_translate(g, real_translate, mt, cases[i].lang, cases[i].text, &out));
        printf("%s: %s\n    without: %s\n    with:    %s\n", cases[i].lang, cases[i].text, plain,
               out);
        for (size_t k = 0; k < 2; k++)
            ASSERT_STR_CONTAINS(out, cases[i].want[k]);
        ASSERT(!strstr(out, "Zxq") && !strstr(out, "zxq"));
        free(plain);
        free(out);
    }
    glossary_free(g);
    mt_free(mt);
}

int main(void)
{
    test_json_round_trip();
    test_text_form();
    test_bad_glossaries();
    test_matching();
    test_through_apertium();
    printf("glossary: all passed\n");
    return 0;
}
