/*
 * Replays every file of a corpus directory through a libFuzzer target, so
 * the normal test run (without clang's fuzzer runtime) covers the corpus.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_FILE (16u * 1024 * 1024)

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0 || (size_t)st.st_size > REPLAY_MAX_FILE) {
        fclose(f);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (data == NULL || fread(data, 1, size, f) != size) {
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *dir = opendir(argv[1]);
    if (dir == NULL) {
        perror(argv[1]);
        return 1;
    }
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        char path[4096];
        int n = snprintf(path, sizeof(path), "%s/%s", argv[1], entry->d_name);
        if (n < 0 || (size_t)n >= sizeof(path))
            continue;
        if (replay_file(path) != 0) {
            fprintf(stderr, "cannot read %s\n", path);
            closedir(dir);
            return 1;
        }
        count++;
    }
    closedir(dir);
    printf("replayed %d inputs from %s\n", count, argv[1]);
    return count > 0 ? 0 : 1;
}
