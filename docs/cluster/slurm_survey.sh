#!/usr/bin/env bash
# Score a survey-sized candidate list on a SLURM cluster with bhb_viewer, in two jobs:
#
#   1. ingest: a job array; task K builds part K of N of the data set from files on disk
#      (bhb dataset build --shard K/N). Parts are independent; the set opens once all exist.
#   2. score:  one job on NODES nodes × GPUS GPUs; torchrun starts one rank per GPU, every rank
#      scores its share and rank 0 writes one Parquet table.
#
#   sbatch docs/cluster/slurm_survey.sh            # submits both (the second waits for the first)
#
# Edit the paths and sizes below. Everything lives on a shared file system (data, model, output).
set -euo pipefail

CATALOG=${CATALOG:-/shared/survey/candidates.fits}   # id, ra, dec, plate, mjd, fiber (, label)
SPECTRA=${SPECTRA:-/shared/survey/spectra}            # spPlate / spec files
IMAGES=${IMAGES:-/shared/survey/cubes}                # cube files or frames with WCS
DATA=${DATA:-/shared/survey/bhb-data}                 # the sharded data set (written)
MODEL=${MODEL:-/shared/models/batmm-paper}            # a bhb train run directory
OUT=${OUT:-/shared/survey/scores.parquet}
SHARDS=${SHARDS:-64}                                  # ingest tasks
NODES=${NODES:-4}
GPUS=${GPUS:-4}                                       # per node
CPUS_PER_GPU=${CPUS_PER_GPU:-8}                       # loader workers (Balmer fits) per rank + 1
ENV_SETUP=${ENV_SETUP:-"source /shared/envs/bhb/bin/activate"}

if [ "${1:-}" != "--ingest" ] && [ "${1:-}" != "--score" ]; then
  ingest=$(sbatch --parsable --job-name bhb-ingest --array "1-$SHARDS" --cpus-per-task 1 --mem 8G --time 04:00:00 \
           --output "bhb-ingest-%A_%a.log" "$0" --ingest)
  sbatch --dependency "afterok:$ingest" --job-name bhb-score --nodes "$NODES" --ntasks-per-node 1 \
         --gpus-per-node "$GPUS" --cpus-per-task $((GPUS * CPUS_PER_GPU)) --mem 0 --time 08:00:00 \
         --output "bhb-score-%j.log" "$0" --score
  exit 0
fi

eval "$ENV_SETUP"

if [ "$1" = "--ingest" ]; then
  # One part per array task (one process; --workers applies to a whole build on one machine).
  exec bhb dataset build --catalog "$CATALOG" --spectra "$SPECTRA" --images "$IMAGES" --out "$DATA" \
       --shard "$SLURM_ARRAY_TASK_ID/$SHARDS"
fi

# --score: one torchrun per node (srun), meeting through the c10d rendezvous on the first node.
HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export OMP_NUM_THREADS=1
srun torchrun --nnodes "$NODES" --nproc-per-node "$GPUS" \
     --rdzv-backend c10d --rdzv-endpoint "$HEAD:29500" --rdzv-id "$SLURM_JOB_ID" \
     -m bhb_viewer score "$DATA" --model "$MODEL" --out "$OUT" \
     --workers $((CPUS_PER_GPU - 1)) --batch-size 1024
