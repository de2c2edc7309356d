#!/bin/sh
# Entry of the MouseAct images (docker/Dockerfile.cpu, docker/Dockerfile.cuda).
#   entrypoint.sh inference            batch inference: MODEL_DIR, INPUT, OUTPUT [, DETECTOR_URL] from the env
#   entrypoint.sh detector [ARGS]      detector service on 0.0.0.0:${DETECTOR_PORT:-8001}
#                                      (DETECTOR=classical|yolo|rtdetr, DETECTOR_MODEL for the last two)
#   entrypoint.sh inference-service    inference HTTP service on 0.0.0.0:${INFERENCE_PORT:-8002}
#   entrypoint.sh <mouseact command>   anything else is passed to the mouseact CLI (e.g. "infer --help")
# Outside Docker the same script works with a Python that has mouseact installed first on PATH.
set -eu
cmd="${1:-inference}"
[ "$#" -gt 0 ] && shift
case "$cmd" in
  inference)
    exec python -m mouseact.inference.container_entry "$@" ;;
  detector)
    # DETECTOR_MODEL: absolute, or a folder inside MODEL_DIR (compose mounts the bundle at /models)
    model="${DETECTOR_MODEL:-}"
    case "$model" in ""|/*) ;; *) model="${MODEL_DIR:-/models}/$model" ;; esac
    exec python -m mouseact serve detector --host "${HOST:-0.0.0.0}" --port "${DETECTOR_PORT:-8001}" \
      --detector "${DETECTOR:-classical}" ${model:+--model "$model"} "$@" ;;
  inference-service)
    exec python -m mouseact serve inference --host "${HOST:-0.0.0.0}" --port "${INFERENCE_PORT:-8002}" \
      ${MODEL_DIR:+--model "$MODEL_DIR"} ${DETECTOR_URL:+--detector-url "$DETECTOR_URL"} \
      ${OUTPUT:+--out "$OUTPUT"} "$@" ;;
  *)
    exec python -m mouseact "$cmd" "$@" ;;
esac
