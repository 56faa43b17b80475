// sdf_check: validate SDF worlds with the reference SDFormat parser.
//
// Usage: sdf_check WORLD.sdf [WORLD.sdf ...]
//
// Each file is loaded with sdf::Root::Load under a strict parser
// configuration (warnings and unrecognised elements are errors), so a world
// that passes here also loads in Gazebo without complaints. Every error is
// printed to stderr as "FILE: ERROR"; the exit status is 1 if any file had
// an error, 2 on a usage error, 0 otherwise.
//
// For files that load cleanly, a summary is printed to stdout, one entity a
// line, so the Python loader can be compared against the reference parser:
//
//   world NAME
//   model NAME X Y Z ROLL PITCH YAW          (top-level models, world frame)
//   link MODEL::[NESTED::]LINK X Y Z ROLL PITCH YAW      (world frame)
//   sensor MODEL::[NESTED::]LINK::NAME TYPE X Y Z ROLL PITCH YAW (world frame)
//   actor NAME WAYPOINT_COUNT
//   light NAME

#include <cstdio>
#include <iostream>
#include <string>
#include <type_traits>
#include <utility>

#include <sdf/Actor.hh>
#include <sdf/Error.hh>
#include <sdf/Light.hh>
#include <sdf/Link.hh>
#include <sdf/Model.hh>
#include <sdf/ParserConfig.hh>
#include <sdf/Root.hh>
#include <sdf/Sensor.hh>
#include <sdf/World.hh>

namespace
{
// The pose type is ignition::math::Pose3d in SDFormat 12 and gz::math::Pose3d
// from SDFormat 13 on; take it from the API so the checker builds with both.
using Pose = std::decay_t<decltype(std::declval<const sdf::Model &>().RawPose())>;

// Prints a pose as "x y z roll pitch yaw" with enough digits to compare
// against the Python loader at millimetre / milliradian tolerance.
void PrintPose(const Pose &_pose)
{
  const auto rpy = _pose.Rot().Euler();
  std::printf(" %.6f %.6f %.6f %.6f %.6f %.6f", _pose.Pos().X(),
              _pose.Pos().Y(), _pose.Pos().Z(), rpy.X(), rpy.Y(), rpy.Z());
}

// Prints the links and sensors of a model and of its nested models, with
// world poses.
// The frame graph of a model has no "world" frame, so each pose is resolved
// against its parent (link in model, sensor in link) and composed with the
// parent's world pose. Returns the number of errors met while resolving.
int PrintLinks(const sdf::Model &_model, const Pose &_modelWorld,
                 const std::string &_prefix)
{
  int errors = 0;
  const std::string scope = _prefix + _model.Name() + "::";
  for (uint64_t l = 0; l < _model.LinkCount(); ++l)
  {
    const sdf::Link *link = _model.LinkByIndex(l);
    Pose linkInModel;
    sdf::Errors resolve = link->SemanticPose().Resolve(linkInModel);
    std::printf("link %s%s", scope.c_str(), link->Name().c_str());
    PrintPose(_modelWorld * linkInModel);
    std::printf("\n");
    for (uint64_t s = 0; s < link->SensorCount(); ++s)
    {
      const sdf::Sensor *sensor = link->SensorByIndex(s);
      Pose sensorInLink;
      const sdf::Errors more = sensor->SemanticPose().Resolve(sensorInLink);
      resolve.insert(resolve.end(), more.begin(), more.end());
      std::printf("sensor %s%s::%s %s", scope.c_str(), link->Name().c_str(),
                  sensor->Name().c_str(), sensor->TypeStr().c_str());
      PrintPose(_modelWorld * linkInModel * sensorInLink);
      std::printf("\n");
    }
    for (const auto &error : resolve)
      std::cerr << "link " << scope << link->Name() << ": " << error << "\n";
    errors += static_cast<int>(resolve.size());
  }
  for (uint64_t m = 0; m < _model.ModelCount(); ++m)
  {
    const sdf::Model *nested = _model.ModelByIndex(m);
    Pose nestedInParent;
    const sdf::Errors resolve = nested->SemanticPose().Resolve(nestedInParent);
    for (const auto &error : resolve)
      std::cerr << "model " << scope << nested->Name() << ": " << error << "\n";
    errors += static_cast<int>(resolve.size());
    errors += PrintLinks(*nested, _modelWorld * nestedInParent, scope);
  }
  return errors;
}

// Loads one file strictly and prints its errors or its summary.
// Returns true when the file has no error.
bool Check(const std::string &_path)
{
  sdf::ParserConfig config;
  config.SetWarningsPolicy(sdf::EnforcementPolicy::ERR);
  config.SetUnrecognizedElementsPolicy(sdf::EnforcementPolicy::ERR);
  config.SetDeprecatedElementsPolicy(sdf::EnforcementPolicy::ERR);

  sdf::Root root;
  const sdf::Errors errors = root.Load(_path, config);
  for (const auto &error : errors)
    std::cerr << _path << ": " << error << "\n";
  if (!errors.empty())
    return false;
  if (root.WorldCount() == 0)
  {
    std::cerr << _path << ": no <world> element\n";
    return false;
  }

  int poseErrors = 0;
  for (uint64_t w = 0; w < root.WorldCount(); ++w)
  {
    const sdf::World *world = root.WorldByIndex(w);
    std::printf("world %s\n", world->Name().c_str());
    for (uint64_t m = 0; m < world->ModelCount(); ++m)
    {
      const sdf::Model *model = world->ModelByIndex(m);
      Pose pose;
      const sdf::Errors resolve = model->SemanticPose().Resolve(pose, "world");
      for (const auto &error : resolve)
        std::cerr << _path << ": model " << model->Name() << ": " << error
                  << "\n";
      poseErrors += static_cast<int>(resolve.size());
      std::printf("model %s", model->Name().c_str());
      PrintPose(pose);
      std::printf("\n");
      poseErrors += PrintLinks(*model, pose, "");
    }
    for (uint64_t a = 0; a < world->ActorCount(); ++a)
    {
      const sdf::Actor *actor = world->ActorByIndex(a);
      uint64_t waypoints = 0;
      for (uint64_t t = 0; t < actor->TrajectoryCount(); ++t)
        waypoints += actor->TrajectoryByIndex(t)->WaypointCount();
      std::printf("actor %s %llu\n", actor->Name().c_str(),
                  static_cast<unsigned long long>(waypoints));
    }
    for (uint64_t l = 0; l < world->LightCount(); ++l)
      std::printf("light %s\n", world->LightByIndex(l)->Name().c_str());
  }
  return poseErrors == 0;
}
}  // namespace

int main(int argc, char **argv)
{
  if (argc < 2)
  {
    std::cerr << "usage: " << argv[0] << " WORLD.sdf [WORLD.sdf ...]\n";
    return 2;
  }
  bool ok = true;
  for (int i = 1; i < argc; ++i)
    ok = Check(argv[i]) && ok;
  return ok ? 0 : 1;
}
