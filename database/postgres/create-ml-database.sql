CREATE DATABASE feeding_hearts_ml;
