/* Runs a SavedModel signature through TensorFlow's C API, as TF Serving's C++ runtime would.
 *
 * usage: load_saved_model [-l OP_LIBRARY.so]... MODEL_DIR EXAMPLES_FILE INPUT_TENSOR OUTPUT_TENSOR...
 *
 * EXAMPLES_FILE holds one serialized tf.Example per line, hex-encoded; they are fed as one string
 * tensor of shape [n] to INPUT_TENSOR ("op:index", from the signature_def). For each OUTPUT_TENSOR
 * it prints `shape K D0 .. DK-1` and then one line per element in row-major order: `value K I V`,
 * K the output's position, I the flat index, V a float (%.9g), an integer, or a hex-encoded string.
 * Exit status 0 only when every step succeeded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorflow/c/c_api.h"
#include "tensorflow/c/tf_tstring.h"

static void check(TF_Status *status, const char *what) {
  if (TF_GetCode(status) != TF_OK) {
    fprintf(stderr, "%s: %s\n", what, TF_Message(status));
    exit(1);
  }
}

static TF_Output tensor_by_name(TF_Graph *graph, const char *name) {
  char op[512];
  const char *colon = strrchr(name, ':');
  size_t len = colon ? (size_t)(colon - name) : strlen(name);
  if (len >= sizeof op) { fprintf(stderr, "tensor name too long: %s\n", name); exit(1); }
  memcpy(op, name, len);
  op[len] = '\0';
  TF_Output out = {TF_GraphOperationByName(graph, op), colon ? atoi(colon + 1) : 0};
  if (!out.oper) { fprintf(stderr, "no operation %s in the graph\n", op); exit(1); }
  return out;
}

/* Reads the hex lines of EXAMPLES_FILE into a TF_STRING tensor of shape [n]. */
static TF_Tensor *read_examples(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) { perror(path); exit(1); }
  static char line[1 << 20];
  int64_t n = 0;
  while (fgets(line, sizeof line, f)) n++;
  rewind(f);
  TF_Tensor *t = TF_AllocateTensor(TF_STRING, &n, 1, (size_t)n * sizeof(TF_TString));
  TF_TString *data = (TF_TString *)TF_TensorData(t);
  for (int64_t i = 0; i < n && fgets(line, sizeof line, f); i++) {
    size_t hex = strcspn(line, "\r\n"), len = hex / 2;
    char *bytes = malloc(len + 1);
    for (size_t j = 0; j < len; j++) sscanf(line + 2 * j, "%2hhx", (unsigned char *)&bytes[j]);
    TF_StringInit(&data[i]);
    TF_StringCopy(&data[i], bytes, len);
    free(bytes);
  }
  fclose(f);
  return t;
}

static void print_tensor(int k, const TF_Tensor *t) {
  int dims = TF_NumDims(t);
  int64_t n = TF_TensorElementCount(t);
  printf("shape %d", k);
  for (int d = 0; d < dims; d++) printf(" %lld", (long long)TF_Dim(t, d));
  printf("\n");
  const void *data = TF_TensorData(t);
  for (int64_t i = 0; i < n; i++) {
    printf("value %d %lld ", k, (long long)i);
    switch (TF_TensorType(t)) {
      case TF_FLOAT: printf("%.9g", ((const float *)data)[i]); break;
      case TF_INT32: printf("%d", ((const int *)data)[i]); break;
      case TF_INT64: printf("%lld", (long long)((const int64_t *)data)[i]); break;
      case TF_STRING: {
        const TF_TString *s = &((const TF_TString *)data)[i];
        const unsigned char *p = (const unsigned char *)TF_StringGetDataPointer(s);
        for (size_t j = 0; j < TF_StringGetSize(s); j++) printf("%02x", p[j]);
        break;
      }
      default: fprintf(stderr, "output %d: unhandled dtype %d\n", k, TF_TensorType(t)); exit(1);
    }
    printf("\n");
  }
}

int main(int argc, char **argv) {
  TF_Status *status = TF_NewStatus();
  int a = 1;
  for (; a + 1 < argc && strcmp(argv[a], "-l") == 0; a += 2) {
    TF_Library *lib = TF_LoadLibrary(argv[a + 1], status);
    check(status, argv[a + 1]);
    (void)lib;  /* its ops stay registered for the life of the process */
  }
  if (argc - a < 4) {
    fprintf(stderr, "usage: %s [-l OP_LIBRARY]... MODEL_DIR EXAMPLES_FILE INPUT_TENSOR OUTPUT_TENSOR...\n", argv[0]);
    return 2;
  }
  const char *tags[] = {"serve"};
  TF_Graph *graph = TF_NewGraph();
  TF_SessionOptions *options = TF_NewSessionOptions();
  TF_Session *session = TF_LoadSessionFromSavedModel(options, NULL, argv[a], tags, 1, graph, NULL, status);
  check(status, "TF_LoadSessionFromSavedModel");

  TF_Output input = tensor_by_name(graph, argv[a + 2]);
  TF_Tensor *examples = read_examples(argv[a + 1]);
  int n_out = argc - a - 3;
  TF_Output *outputs = calloc(n_out, sizeof(TF_Output));
  TF_Tensor **values = calloc(n_out, sizeof(TF_Tensor *));
  for (int k = 0; k < n_out; k++) outputs[k] = tensor_by_name(graph, argv[a + 3 + k]);

  TF_SessionRun(session, NULL, &input, &examples, 1, outputs, values, n_out, NULL, 0, NULL, status);
  check(status, "TF_SessionRun");
  for (int k = 0; k < n_out; k++) {
    print_tensor(k, values[k]);
    TF_DeleteTensor(values[k]);
  }
  TF_DeleteTensor(examples);
  TF_CloseSession(session, status);
  TF_DeleteSession(session, status);
  TF_DeleteGraph(graph);
  TF_DeleteSessionOptions(options);
  TF_DeleteStatus(status);
  free(outputs);
  free(values);
  return 0;
}
