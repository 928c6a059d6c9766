/* Transcript rendering in every export format. */
#include <cjson/cJSON.h>

#include "archive/transcript.h"
#include "test.h"
#include "util/err.h"

int main(void)
{
    struct transcript *t = transcript_new("es");
    transcript_add(t, 0, 1500, 4210, "no era un joven mal dispuesto",
                   "he was not an ill disposed young man");
    transcript_add(t, 1, 3723001, 3725000, "comillas \" y \\ barra", "quote");
    ASSERT_EQ(transcript_count(t), 2);

    char *out;
    size_t len;
    transcript_render(t, TRANSCRIPT_VTT, &out, &len);
    ASSERT_EQ(strlen(out), len);
    ASSERT_STR_EQ(out, "WEBVTT\n\n1\n00:00:01.500 --> 00:00:04.210\nno era un joven mal dispuesto\n\n"
                       "2\n01:02:03.001 --> 01:02:05.000\ncomillas \" y \\ barra\n\n");
    free(out);

    transcript_render(t, TRANSCRIPT_SRT, &out, &len);
    ASSERT_STR_CONTAINS(out, "1\n00:00:01,500 --> 00:00:04,210\nno era");
    ASSERT(strncmp(out, "WEBVTT", 6) != 0);
    free(out);

    transcript_render(t, TRANSCRIPT_TXT, &out, &len);
    ASSERT_STR_EQ(out, "no era un joven mal dispuesto\ncomillas \" y \\ barra\n");
    free(out);

    transcript_render(t, TRANSCRIPT_JSON, &out, &len);
    cJSON *root = cJSON_Parse(out);
    ASSERT(root);
    ASSERT_STR_EQ(cJSON_GetObjectItem(root, "lang")->valuestring, "es");
    cJSON *cues = cJSON_GetObjectItem(root, "cues");
    ASSERT_EQ(cJSON_GetArraySize(cues), 2);
    cJSON *second = cJSON_GetArrayItem(cues, 1);
    ASSERT_STR_EQ(cJSON_GetObjectItem(second, "text")->valuestring, "comillas \" y \\ barra");
    ASSERT_EQ(cJSON_GetObjectItem(second, "start_ms")->valuedouble, 3723001);
    cJSON_Delete(root);
    free(out);

    /* An empty transcript is still a valid file. */
    struct transcript *empty = transcript_new("en");
    transcript_render(empty, TRANSCRIPT_VTT, &out, &len);
    ASSERT_STR_EQ(out, "WEBVTT\n\n");
    free(out);
    transcript_free(empty);

    enum transcript_format f;
    ASSERT_OK(transcript_format_parse("srt", &f));
    ASSERT_EQ(f, TRANSCRIPT_SRT);
    ASSERT_EQ(transcript_format_parse("doc", &f), BC_EINVAL);
    ASSERT_EQ(transcript_format_parse(NULL, &f), BC_EINVAL);
    transcript_free(t);
    printf("transcript: all passed\n");
    return 0;
}
